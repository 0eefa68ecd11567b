"""The device table: a ``DataTable`` keyed by device id that applies a :class:`RowPlan` in place.

The screen computes what changed (``device_rows.plan_update``); this widget only adds,
removes, updates and reorders rows by key. It never clears, so the cursor stays on the
same device, and an unchanged refresh does not touch it at all. Every cell is a
``rich.text.Text`` built from the plain value: a hostname like ``[b]x[/b]`` is drawn as
those characters.
"""

from __future__ import annotations

import gc
from typing import Iterable

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.geometry import Size
from textual.widgets.data_table import CellKey, ColumnKey, Row as TableRow, RowKey

from zenml_devices_tui.ui.widgets.device_rows import (
    COLUMN_INDEX,
    COLUMN_KEYS,
    COLUMNS,
    Row,
    RowPlan,
)
from zenml_devices_tui.ui.widgets.theme_styles import status_styles

MISSING = "–"
SORT_MARKS = {False: "▲", True: "▼"}


class Cell:
    """One table cell: a plain string drawn as a ``Text`` (never parsed as markup).

    Building the ``Text`` only when the cell is drawn keeps filling a table of 10,000
    devices cheap: DataTable renders (and caches) just the rows on screen.
    """

    __slots__ = ("plain", "style")

    def __init__(self, plain: str, style: Style | str = "") -> None:
        self.plain = plain
        self.style = style

    def __rich__(self) -> Text:
        return Text(self.plain, style=self.style, end="", no_wrap=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and other.plain == self.plain and other.style == self.style

    def __repr__(self) -> str:
        return f"Cell({self.plain!r})"


_MISSING_CELL = Cell(MISSING, "dim")
_THIS = COLUMN_INDEX["this"]
_STATUS = COLUMN_INDEX["status"]


class DeviceTable(DataTable, inherit_bindings=False):
    """Rows keyed by device id, one line each, row cursor."""

    # DataTable's own bindings minus ``enter``: the screen owns ``enter`` (devices.describe),
    # so remapping it in the keymap leaves nothing behind.
    BINDINGS = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("right", "cursor_right", "Scroll right", show=False),
        Binding("left", "cursor_left", "Scroll left", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "scroll_top", "Top", show=False),
        Binding("ctrl+end", "scroll_bottom", "Bottom", show=False),
        Binding("home", "scroll_home", "Home", show=False),
        Binding("end", "scroll_end", "End", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        # The marker and hostname stay in view when the table scrolls sideways.
        super().__init__(cursor_type="row", zebra_stripes=False, id=id, fixed_columns=2)
        # DataTable's render caches hold up to 10,000 cells and 1,000 rows and lines (~12 MB of
        # segments for a screen that shows ~35 rows), and every changed cell makes new entries:
        # sized for a few screens, memory stays flat over a long session.
        self._cell_render_cache = LRUCache(1024)
        self._row_render_cache = LRUCache(128)
        self._line_cache = LRUCache(256)
        self._row_renderable_cache = LRUCache(128)
        self.shown_rows: dict[str, Row] = {}
        self.shown_order: list[str] = []
        self._status_styles: dict[str, Style] = {}
        self._mark_style = Style(bold=True)
        self._sort: tuple[str, bool] | None = None

    # ------------------------------------------------------------ setup

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(self._label(column.key), key=column.key)
        self.watch(self.app, "theme", self._theme_changed, init=True)

    def _theme_changed(self, _theme: str) -> None:
        self._status_styles = status_styles(self.app.current_theme)
        self._mark_style = self._status_styles["accent"]
        if self.shown_rows:
            self._rerender_columns(("this", "status"))

    # ------------------------------------------------------------ cells

    def cell(self, column: str, value: str) -> Cell:
        """The drawn cell for a plain value (never parsed as markup)."""
        if column == "this":
            return Cell(value, self._mark_style)
        if not value:
            return _MISSING_CELL
        if column == "status":
            return Cell(value, self._status_styles.get(value, ""))
        return Cell(value)

    def _cells(self, row: Row) -> list[Cell]:
        # The same as [self.cell(c, v) for ...], without a call and three comparisons per cell:
        # this runs for every cell of every added row (130,000 cells for 10,000 devices).
        cells = [Cell(value) if value else _MISSING_CELL for value in row]
        cells[_THIS] = Cell(row[_THIS], self._mark_style)
        status = row[_STATUS]
        if status:
            cells[_STATUS] = Cell(status, self._status_styles.get(status, ""))
        return cells

    def _rerender_columns(self, columns: Iterable[str]) -> None:
        for column in columns:
            index = COLUMN_INDEX[column]
            ckey = ColumnKey(column)
            for key, row in self.shown_rows.items():
                self._data[RowKey(key)][ckey] = self.cell(column, row[index])
        self._update_count += 1
        self.refresh()

    # ------------------------------------------------------------ sort indicator

    def _label(self, column: str) -> Text:
        spec = COLUMNS[COLUMN_INDEX[column]]
        if not spec.label:
            return Text("")
        mark = " "
        if self._sort is not None and self._sort[0] == column:
            mark = SORT_MARKS[self._sort[1]]
        # Every label keeps room for the mark, so showing it never changes a width.
        return Text(f"{spec.label} {mark}", end="")

    def show_sort(self, column: str, reverse: bool) -> None:
        if self._sort == (column, reverse):
            return
        self._sort = (column, reverse)
        for key in COLUMN_KEYS:
            self.columns[ColumnKey(key)].label = self._label(key)
        self._update_count += 1
        self.refresh()

    # ------------------------------------------------------------ queries

    @property
    def highlighted_key(self) -> str | None:
        if not self.row_count:
            return None
        row = self.cursor_row
        if not 0 <= row < self.row_count:
            return None
        key = self._row_locations.get_key(row)
        return None if key is None else key.value

    def move_to_key(self, key: str) -> bool:
        index = self._row_locations.get(RowKey(key))
        if index is None:
            return False
        self.move_cursor(row=index, scroll=True)
        return True

    # ------------------------------------------------------------ applying a plan

    def apply(self, plan: RowPlan) -> None:
        """Remove, add, update and reorder rows by key; keep the cursor on the same device."""
        if plan.empty:
            return
        cursor_key = self.highlighted_key
        old_cursor = self.cursor_row
        view_offset = old_cursor - int(self.scroll_y)

        if plan.remove:
            self._remove_rows(plan.remove)
        if plan.add:
            # Creating 100,000+ small objects at once sets off the cyclic GC again and again,
            # each time walking every object the app holds; they form no cycles, so pause it.
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                self._add_rows(plan.add)
            finally:
                if gc_was_enabled:
                    gc.enable()
        for key, index, value in plan.change:
            column = COLUMN_KEYS[index]
            text = self.cell(column, value)
            grows = cell_len(text.plain) > self.columns[ColumnKey(column)].content_width
            self.update_cell(key, column, text, update_width=grows)
            row = self.shown_rows[key]
            self.shown_rows[key] = row[:index] + (value,) + row[index + 1 :]
        if plan.order is not None:
            self._reorder(plan.order)

        if cursor_key is not None and cursor_key in self.shown_rows:
            new_index = self._row_locations.get(RowKey(cursor_key))
            if new_index is not None and new_index != old_cursor:
                self.move_cursor(row=new_index, scroll=False)
                # Keep the device on the same line of the screen, as far as possible.
                target = max(0, new_index - max(0, view_offset))
                self.call_after_refresh(self._restore_scroll, target, cursor_key)

    def _restore_scroll(self, target: int, key: str) -> None:
        if self.highlighted_key == key:
            self.scroll_to(y=target, animate=False, immediate=True)
            self._scroll_cursor_into_view()

    def _remove_rows(self, keys: Iterable[str]) -> None:
        """``remove_row`` for many rows at once (each ``remove_row`` rebuilds the index: O(n))."""
        gone = {RowKey(k) for k in keys if k in self.shown_rows}
        if not gone:
            return
        for row_key in gone:
            for column_key in self._data.get(row_key, {}):
                self._updated_cells.discard(CellKey(row_key, column_key))
            self.rows.pop(row_key, None)
            self._data.pop(row_key, None)
            self._new_rows.discard(row_key)
            del self.shown_rows[row_key.value]
        self.shown_order = [k for k in self.shown_order if RowKey(k) not in gone]
        self._set_locations(self.shown_order)
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self.refresh(layout=True)
        self.check_idle()

    def _add_rows(self, rows: list[tuple[str, Row]]) -> None:
        """``add_row`` for many rows at once: one cursor update and one idle pass for all of them."""
        start = self.row_count
        column_keys = [ColumnKey(key) for key in COLUMN_KEYS]
        for offset, (key, row) in enumerate(rows):
            row_key = RowKey(key)
            if row_key in self._row_locations:
                raise ValueError(f"duplicate row key {key!r}")
            self._row_locations[row_key] = start + offset
            self._data[row_key] = dict(zip(column_keys, self._cells(row)))
            self.rows[row_key] = TableRow(row_key, 1)
            self._new_rows.add(row_key)
            self.shown_rows[key] = row
            self.shown_order.append(key)
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if start == 0 and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self._update_count += 1
        self.check_idle()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable's version measures every new cell with Rich (~40 µs each: seconds for 10,000
        rows). Here every row is one line without a label and every cell a one-line :class:`Cell`, so
        a cell's width is the cell length of its plain text."""
        columns = self.columns
        for row_key in new_rows:
            data = self._data.get(row_key)
            if data is None:  # removed before the idle pass
                continue
            for column_key, value in data.items():
                column = columns.get(column_key)
                if column is None:
                    continue
                width = cell_len(value.plain) if isinstance(value, (Cell, Text)) else cell_len(str(value))
                if width > column.content_width:
                    column.content_width = width
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            sum(column.get_render_width(self) for column in columns.values()) + self._row_label_column_width,
            self._total_row_height + header_height,
        )

    def _reorder(self, order: list[str]) -> None:
        self.shown_order = list(order)
        self._set_locations(self.shown_order)
        self.refresh()

    def _set_locations(self, order: list[str]) -> None:
        rows = self.rows  # reuse the existing RowKey objects (a str finds its RowKey: same hash, equal)
        self._row_locations = TwoWayDict({rows[key].key: index for index, key in enumerate(order)})
        self._update_count += 1
