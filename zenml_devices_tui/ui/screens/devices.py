"""The devices screen: a live table of every device holding a session for this account.

Data flows one way. The refresh worker asks :class:`~zenml_devices_tui.core.sync.DeviceSync`
what changed (usually: nothing, in one small request), then hands the changed ids to
:meth:`DevicesScreen._apply`, which recomputes only their rows (tuples of plain strings) and,
if one of them moved, the order from cached sort keys, and diffs them against what the table
shows (``device_rows.plan_patch``); the table only applies that plan, so an unchanged refresh
touches nothing. Every row is computed again when the sort, the filter or the minute changes.

Refreshing is a worker loop, not a timer: the next refresh is armed only after the last
one ended, it sleeps with ``context.sleep`` (the tests' FakeClock drives it), it pauses
while another screen (a dialog, help, the palette) is on top, and after a failure it keeps
the rows, says "stale" and retries with back-off. A 401 anywhere ends the session.

Lock, unlock and delete ask first (:class:`ConfirmScreen`), then change the row only from
the server's answer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import DataTable, Input, Label, Static

from zenml_devices_tui.core.context import AppContext
from zenml_devices_tui.core.errors import NotAuthenticated, NotFound, RateLimited, ZenMLError
from zenml_devices_tui.core.format import clock_time, session_validity
from zenml_devices_tui.core.models import Device, ServerInfo, User
from zenml_devices_tui.core.sync import DeviceSync
from zenml_devices_tui.ui.commands import DevicesCommands
from zenml_devices_tui.ui.screens.base import AppScreen
from zenml_devices_tui.ui.screens.confirm import device_action_dialog
from zenml_devices_tui.ui.widgets.describe import DescribePane
from zenml_devices_tui.ui.widgets.device_rows import (
    COLUMN_INDEX,
    COLUMNS,
    DEFAULT_SORT,
    SORTABLE,
    Row,
    column_sort_key,
    device_row,
    matches,
    next_sort_column,
    plan_patch,
    plan_update,
    sort_devices,
    tie_key,
)
from zenml_devices_tui.ui.widgets.device_table import SORT_MARKS, DeviceTable
from zenml_devices_tui.ui.widgets.footer import AppFooter
from zenml_devices_tui.ui.widgets.header import DevicesHeader, HeaderInfo

#: At this width and above the describe pane sits beside the table.
WIDE = 120
#: Longest wait between retries after failures.
MAX_BACKOFF = 60.0

ACTION_WORDS = {
    "lock": ("Lock", "Locked", "locking"),
    "unlock": ("Unlock", "Unlocked", "unlocking"),
    "delete": ("Delete", "Deleted", "deleting"),
}


def device_label(device: Device) -> str:
    """How dialogs and notifications name a device: ``hostname (IP, id 1a2b3c4d)``."""
    details = [d for d in (device.ip_address, f"id {device.short_id}") if d]
    return f"{device.hostname or '(no hostname)'} ({', '.join(details)})"


class DevicesScreen(AppScreen):
    """The live device table, its header, the describe pane and the actions."""

    AUTO_FOCUS = "#devices-table"
    COMMANDS = {DevicesCommands}
    BINDINGS = [
        Binding("l", "lock", "Lock", id="devices.lock",
                tooltip="lock the highlighted device: its token stops working (asks first)"),
        Binding("u", "unlock", "Unlock", id="devices.unlock",
                tooltip="unlock the highlighted locked device (asks first)"),
        Binding("d", "delete", "Delete", id="devices.delete",
                tooltip="delete the highlighted device: it must sign in again (asks first)"),
        Binding("slash", "filter", "Filter", id="devices.filter", key_display="/",
                tooltip="narrow the table by hostname, IP, id, OS, location, versions or status"),
        Binding("s", "sort", "Sort", id="devices.sort", tooltip="sort by the next column"),
        Binding("S", "sort_reverse", "Reverse sort", id="devices.sort_reverse", show=False,
                tooltip="ascending / descending"),
        Binding("r", "refresh", "Refresh", id="devices.refresh", show=False,
                tooltip="fetch the devices now (the table also refreshes by itself)"),
        Binding("enter", "describe", "Details", id="devices.describe",
                tooltip="show or hide every field of the highlighted device"),
        Binding("c", "copy_id", "Copy id", id="devices.copy_id", show=False,
                tooltip="copy the highlighted device's full id to the clipboard (OSC 52)"),
        Binding("j", "cursor_down", "Down", id="devices.down", show=False, tooltip="like ↓"),
        Binding("k", "cursor_up", "Up", id="devices.up", show=False, tooltip="like ↑"),
        Binding("escape", "clear_filter", "Clear filter", id="devices.clear_filter", show=False,
                tooltip="show every device again"),
    ]
    #: Shown by the help screen: actions with no key of their own.
    PALETTE_ONLY = (
        ("Sign out", "forget this server's token and go back to sign-in"),
        ("Switch server", "sign in to another ZenML server"),
        ("Go to device <hostname>", "move the cursor to that device"),
        ("Sort by <column>", "sort by a given column"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.devices: dict[str, Device] = {}
        self.filter_text = ""
        self.sort_column = DEFAULT_SORT
        self.sort_reverse = False
        #: True once the first refresh ended (with data or not) and the next one is armed.
        self.loaded = False
        self._have_data = False
        self.connection = "loading"
        self.problem: str | None = None
        self.stale_since: datetime | None = None
        self.last_success: datetime | None = None
        self.failures = 0
        #: Seconds before the next try after a failed refresh (back-off).
        self.retry_delay = 0.0
        self.user: User | None = None
        self.server_info: ServerInfo | None = None
        self._describe_wide = True
        self._describe_narrow = False
        self._wake = asyncio.Event()
        self._active = asyncio.Event()
        self._mutations = 0
        #: Refreshes finished (tests wait on it).
        self.refresh_count = 0
        self._ended = False
        self._binding_state: tuple[object, ...] | None = None
        self._layout: tuple[bool, bool] | None = None
        self._sync: DeviceSync | None = None
        #: Ids whose rows must be recomputed at the next apply (a fetch whose result was not drawn).
        self._dirty: set[str] = set()
        # The row model of every device (not only the shown ones), kept between refreshes so a refresh
        # recomputes only the devices that changed. ``_row_state`` is what the cache was computed for.
        self._rows: dict[str, Row] = {}
        self._sort_keys: dict[str, object] = {}
        self._tie_keys: dict[str, object] = {}
        self._visible: set[str] | None = None
        self._order: list[str] = []
        self._row_state: tuple[object, ...] | None = None

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield DevicesHeader(id="devices-header")
        with Horizontal(id="devices-body"):
            with Vertical(id="devices-main"):
                with Horizontal(id="devices-filter-bar"):
                    yield Label("Filter ", id="devices-filter-label")
                    yield Input(
                        placeholder="hostname, IP, id, OS, location, version or status",
                        id="devices-filter",
                        compact=True,
                    )
                yield DeviceTable(id="devices-table")
                yield Static("", id="devices-empty")
            yield DescribePane(id="devices-describe")
        yield AppFooter(compact=True)

    @property
    def table(self) -> DeviceTable:
        return self.query_one("#devices-table", DeviceTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#devices-filter", Input)

    @property
    def filter_shown(self) -> bool:
        return self.query_one("#devices-filter-bar").has_class("-shown")

    @property
    def describe_pane(self) -> DescribePane:
        return self.query_one("#devices-describe", DescribePane)

    @property
    def wide(self) -> bool:
        return self.app.size.width >= WIDE

    def on_mount(self) -> None:
        self.server_info = self.zapp.server_info
        self._layout_for_width()
        self.table.loading = True
        self.table.show_sort(self.sort_column, self.sort_reverse)
        self._show_header()
        self.run_worker(self._refresh_loop(), name="refresh", group="refresh", exclusive=True, exit_on_error=False)

    def on_resize(self, event: Resize) -> None:
        self._layout_for_width()

    def _layout_for_width(self) -> None:
        wide = self.wide
        shown = self._describe_wide if wide else self._describe_narrow
        classes = (wide, shown)
        self.set_class(wide, "-wide")
        self.set_class(not wide, "-narrow")
        self.set_class(not shown, "-describe-hidden")
        if classes != self._layout:
            self._layout = classes
            if self.is_mounted:
                # The table may have shrunk: keep the highlighted row in view.
                table = self.table
                self.call_after_refresh(lambda: table.move_cursor(row=table.cursor_row, scroll=True))

    def on_screen_resume(self) -> None:
        self._active.set()

    def on_screen_suspend(self) -> None:
        self._active.clear()

    # ------------------------------------------------------------ session helpers

    @property
    def context(self) -> AppContext:
        return self.zapp.context

    @property
    def this_device_id(self) -> str | None:
        token = self.zapp.stored_token
        return getattr(token, "device_id", None) if token is not None else None

    def now(self) -> datetime:
        return self.context.clock()

    def _end_session(self) -> None:
        if not self._ended:
            self._ended = True
            self.zapp.session_ended()

    # ------------------------------------------------------------ refreshing

    async def _refresh_loop(self) -> None:
        while not self._ended:
            await self._active.wait()
            self._wake.clear()
            ok = await self.refresh_once()
            if ok is None:
                self._refresh_finished()
                return
            await self._sleep_or_wake(self.context.refresh_interval if ok else self.retry_delay)

    def _refresh_finished(self) -> None:
        """Called once the next refresh is armed (the loop is asleep on the clock), so whoever
        waits for ``refresh_count`` or ``loaded`` may move the clock at once."""
        self.refresh_count += 1
        self.loaded = self._have_data

    def _backoff(self, retry_after: float | None = None) -> float:
        """Seconds before the next try after ``self.failures`` failures in a row: 5, 10, 20, 40, 60, 60…"""
        base = max(2.0, float(self.context.refresh_interval))
        delay = min(MAX_BACKOFF, base * 2 ** max(0, self.failures - 1))
        return max(delay, min(retry_after or 0.0, 3600.0))

    async def _sleep_or_wake(self, seconds: float) -> None:
        if self._wake.is_set():
            self._refresh_finished()
            return
        sleeper = asyncio.ensure_future(self.context.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.sleep(0)  # let the sleeper start: it takes its deadline from the clock now
            self._refresh_finished()
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def refresh_once(self) -> bool | None:
        """One fetch. True: fresh data; False: failed (rows kept, stale); None: the session ended."""
        client = self.zapp.client
        if client is None:
            self._end_session()
            return None
        if self.failures:
            self.connection = "retrying"
            self._show_header()
        generation = self._mutations
        retry_after: float | None = None
        sync = self._sync
        if sync is None or sync.client is not client:
            sync = self._sync = DeviceSync(client, self.this_device_id)
        # The header's user and server name are decoration: ask for them alongside the first list,
        # and draw the table as soon as the list is here.
        extras: asyncio.Future[list[object]] | None = None
        if self.user is None or self.server_info is None:
            extras = asyncio.gather(
                client.current_user() if self.user is None else _none(),
                client.info() if self.server_info is None else _none(),
                return_exceptions=True,
            )
        try:
            result = await sync.refresh()
        except NotAuthenticated:
            await _drain(extras)
            self._end_session()
            return None
        except ZenMLError as exc:
            await _drain(extras)
            self.failures += 1
            if isinstance(exc, RateLimited):
                retry_after = exc.retry_after
            self.retry_delay = self._backoff(retry_after)
            reason = "The server is rate limiting requests." if isinstance(exc, RateLimited) else exc.message
            self.problem = f"{reason} Next try in {self.retry_delay:.0f} s."
            if self.stale_since is None:
                self.stale_since = self.now()
            self.connection = "stale"
            self._first_load_done()
            self._apply(set())
            return False
        self._dirty |= result.changed | result.removed
        if generation != self._mutations:
            # An action answered while this fetch was in flight: its answer is newer. Fetch again.
            await _drain(extras)
            self._wake.set()
            return True
        self.devices = sync.known
        self.failures = 0
        self.problem = None
        self.stale_since = None
        self.connection = "live"
        self.last_success = self.now()
        self._first_load_done()
        dirty, self._dirty = self._dirty, set()
        self._apply(dirty)
        if extras is not None:
            user, info = await extras
            if isinstance(user, NotAuthenticated):
                self._end_session()
                return None
            if isinstance(user, User):
                self.user = user
            if isinstance(info, ServerInfo) and self.server_info is None:
                self.server_info = info
            self._show_header()
        return True

    def _first_load_done(self) -> None:
        if not self._have_data:
            self._have_data = True
            self.table.loading = False

    # ------------------------------------------------------------ drawing

    def visible_devices(self, now: datetime) -> list[Device]:
        shown = [d for d in self.devices.values() if matches(d, self.filter_text, now)] if self.filter_text.strip() \
            else list(self.devices.values())
        return sort_devices(shown, self.sort_column, self.sort_reverse, now)

    def _apply(self, changed: set[str] | None = None) -> None:
        """Bring the table, describe pane, header and footer in line with the current data.

        ``changed``: the ids that may differ since the last apply (None: any). Rows are computed
        again only for them, and the order only when one of them moved; everything is computed
        again when the sort, the filter or the minute changed (relative times, "expired").
        """
        now = self.now()
        this_id = self.this_device_id
        state = (self.sort_column, self.sort_reverse, self.filter_text.strip().casefold(), this_id,
                 now.replace(second=0, microsecond=0))
        table = self.table
        if changed is None or state != self._row_state:
            self._row_state = state
            self._rebuild(now, this_id)
            rows = self._rows if self._visible is None else {k: self._rows[k] for k in self._visible}
            plan = plan_update(table.shown_rows, table.shown_order, rows, self._order)
        elif changed:
            moved = self._patch(changed, now, this_id)
            rows = self._rows if self._visible is None else {k: self._rows[k] for k in self._visible}
            plan = plan_patch(table.shown_rows, table.shown_order, rows, self._order if moved else None, changed)
        else:
            plan = None
        if plan is not None:
            table.apply(plan)
        table.show_sort(self.sort_column, self.sort_reverse)
        self._show_empty()
        self._show_describe()
        self._show_header()
        self._refresh_bindings_if_changed()

    def _rebuild(self, now: datetime, this_id: str | None) -> None:
        devices = self.devices
        key = column_sort_key(self.sort_column)
        self._rows = {i: device_row(d, now, this_id) for i, d in devices.items()}
        self._sort_keys = {i: key(d, now) for i, d in devices.items()}
        self._tie_keys = {i: tie_key(d) for i, d in devices.items()}
        if self.filter_text.strip():
            self._visible = {i for i, d in devices.items() if matches(d, self.filter_text, now)}
        else:
            self._visible = None
        self._order = self._sorted()

    def _patch(self, changed: set[str], now: datetime, this_id: str | None) -> bool:
        """Recompute the rows of ``changed``; True if the order must be computed again (it then is)."""
        devices = self.devices
        key = column_sort_key(self.sort_column)
        needle = self.filter_text.strip()
        moved = False
        for device_id in changed:
            device = devices.get(device_id)
            if device is None:
                if self._rows.pop(device_id, None) is not None:
                    self._sort_keys.pop(device_id, None)
                    self._tie_keys.pop(device_id, None)
                    if self._visible is not None:
                        self._visible.discard(device_id)
                    moved = True
                continue
            self._rows[device_id] = device_row(device, now, this_id)
            sort_key, tie = key(device, now), tie_key(device)
            if self._sort_keys.get(device_id) != sort_key or self._tie_keys.get(device_id) != tie:
                moved = True
            self._sort_keys[device_id] = sort_key
            self._tie_keys[device_id] = tie
            if self._visible is not None:
                shown = matches(device, needle, now)
                if shown != (device_id in self._visible):
                    moved = True
                    if shown:
                        self._visible.add(device_id)
                    else:
                        self._visible.discard(device_id)
        if moved:
            self._order = self._sorted()
        return moved

    def _sorted(self) -> list[str]:
        """The shown ids in table order, from the cached keys (as :func:`sort_devices` orders them)."""
        ids = list(self._rows) if self._visible is None else list(self._visible)
        ids.sort(key=self._tie_keys.__getitem__)
        ids.sort(key=self._sort_keys.__getitem__, reverse=self.sort_reverse)
        return ids

    def _refresh_bindings_if_changed(self) -> None:
        """The footer redraws on every ``refresh_bindings``: only call it when an action's state changed."""
        device = self.highlighted()
        state = (
            device.id if device else None,
            device.status if device else None,
            bool(self.filter_text) or self.filter_shown,
            self._have_data,
        )
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def _show_empty(self) -> None:
        empty = self.query_one("#devices-empty", Static)
        if not self._have_data or self.table.row_count:
            empty.remove_class("-shown")
            return
        if self.devices and self.filter_text.strip():
            message = Text.assemble("No device matches “", self.filter_text.strip(), "”. Escape clears the filter.")
        elif self.connection == "stale" and not self.devices:
            message = Text("No devices loaded yet: the server did not answer. Retrying…")
        else:
            message = Text("No authorized devices for this account.")
        empty.update(message)
        empty.add_class("-shown")

    def highlighted(self) -> Device | None:
        key = self.table.highlighted_key
        return self.devices.get(key) if key is not None else None

    def _show_describe(self) -> None:
        self.describe_pane.show(self.highlighted(), self.now(), self.this_device_id)

    def _summary(self) -> str:
        total = len(self.devices)
        shown = self.table.row_count
        noun = "device" if total == 1 else "devices"
        if self.filter_text.strip():
            text = f"{shown} of {total} {noun} match “{self.filter_text.strip()}” (esc clears)"
        else:
            text = f"{total} {noun}"
        label = COLUMNS[COLUMN_INDEX[self.sort_column]].label
        text += f" · sorted by {label.lower()} {SORT_MARKS[self.sort_reverse]}"
        if self.this_device_id and self.this_device_id in self.devices:
            text += " · » marks this device"
        if self.context.read_only:
            text += " · read-only"
        return text

    def _show_header(self) -> None:
        now = self.now()
        token = self.zapp.stored_token
        user = None
        if self.user is not None:
            user = self.user.name
            if self.user.full_name and self.user.full_name != self.user.name:
                user = f"{self.user.full_name} ({self.user.name})"
        info = HeaderInfo(
            server_name=self.server_info.name if self.server_info else None,
            server_url=self.zapp.server_url or "",
            user=user,
            session=session_validity(getattr(token, "expires_at", None), now) if token is not None else "",
            last_refresh=clock_time(self.last_success) + " UTC" if self.last_success else None,
            connection=self.connection,
            stale_since=clock_time(self.stale_since) + " UTC" if self.stale_since else None,
            problem=self.problem,
            summary=self._summary(),
            insecure=self.zapp.context.insecure,
        )
        self.query_one(DevicesHeader).show(info)

    # ------------------------------------------------------------ table and filter events

    @on(DataTable.RowHighlighted, "#devices-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_describe()
        self._refresh_bindings_if_changed()

    @on(DataTable.HeaderSelected, "#devices-table")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if column not in SORTABLE:
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self._apply()

    @on(Input.Changed, "#devices-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._apply()

    @on(Input.Submitted, "#devices-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not self.filter_text.strip():
            self._hide_filter()
            return
        table = self.table
        table.focus()
        if table.row_count:
            table.move_cursor(row=0)

    def _hide_filter(self) -> None:
        self.query_one("#devices-filter-bar").remove_class("-shown")
        self.table.focus()
        self._refresh_bindings_if_changed()

    # ------------------------------------------------------------ which actions apply

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("lock", "unlock", "delete"):
            device = self.highlighted()
            if device is None or self.context.read_only or not self._have_data:
                return None
            if action == "lock":
                return None if device.status == "locked" else True
            if action == "unlock":
                return True if device.status == "locked" else None
            return True
        if action == "copy_id":
            return True if self.highlighted() is not None else None
        if action == "clear_filter":
            return bool(self.filter_text) or self.filter_shown
        return True

    # ------------------------------------------------------------ simple actions

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_refresh(self) -> None:
        self._wake.set()
        self.notify("Refreshing…", timeout=1.5)

    def action_filter(self) -> None:
        self.query_one("#devices-filter-bar").add_class("-shown")
        self.filter_input.focus()
        self._refresh_bindings_if_changed()

    def action_clear_filter(self) -> None:
        field = self.filter_input
        had_filter = bool(self.filter_text)
        key = self.table.highlighted_key
        field.value = ""  # posts Input.Changed; apply now so the cursor can be put back at once
        self.filter_text = ""
        self._apply()
        self._hide_filter()
        if had_filter and key is not None:
            self.table.move_to_key(key)

    def action_sort(self, column: str | None = None) -> None:
        if column in SORTABLE:
            self.sort_column, self.sort_reverse = column, False
        else:
            self.sort_column = next_sort_column(self.sort_column)
        self._apply()
        label = COLUMNS[COLUMN_INDEX[self.sort_column]].label
        self.notify(f"Sorted by {label.lower()}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._apply()

    def action_describe(self) -> None:
        if self.wide:
            self._describe_wide = not self._describe_wide
        else:
            self._describe_narrow = not self._describe_narrow
        self._layout_for_width()
        self.table.focus()

    def action_copy_id(self) -> None:
        device = self.highlighted()
        if device is None:
            return
        self.app.copy_to_clipboard(device.id)
        self.notify(Text.assemble("Copied the id of ", device.hostname or device.short_id, f": {device.id}").plain,
                    title="Copied", markup=False)

    def go_to_device(self, device_id: str) -> None:
        if device_id not in self.devices:
            return
        if device_id not in self.table.shown_rows:
            self.filter_input.value = ""
            self.filter_text = ""
            self._apply()
            self._hide_filter()
        self.table.focus()
        self.table.move_to_key(device_id)

    # ------------------------------------------------------------ lock / unlock / delete

    def action_lock(self) -> None:
        self._ask("lock")

    def action_unlock(self) -> None:
        self._ask("unlock")

    def action_delete(self) -> None:
        self._ask("delete")

    def _ask(self, kind: str) -> None:
        device = self.highlighted()
        if device is None or self.check_action(kind, ()) is not True:
            return
        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.run_worker(
                    self._act(kind, device),
                    name=f"{kind}-device",
                    group="actions",
                    exit_on_error=False,
                )

        dialog = device_action_dialog(kind, device, self.now(), this_device=device.id == self.this_device_id)
        self.app.push_screen(dialog, answered)

    async def _act(self, kind: str, device: Device) -> None:
        client = self.zapp.client
        if client is None:
            return
        verb, done, doing = ACTION_WORDS[kind]
        label = device_label(device)
        updated: Device | None = None
        try:
            if kind == "lock":
                updated = await client.lock_device(device.id)
            elif kind == "unlock":
                updated = await client.unlock_device(device.id)
            else:
                await client.delete_device(device.id)
        except NotAuthenticated:
            self._end_session()
            return
        except NotFound:
            self.notify(
                f"{label} is gone: it was deleted, or it belongs to another user. Refreshing the list.",
                title=f"{verb} failed", severity="warning", markup=False,
            )
            self._mutations += 1
            self._wake.set()
            return
        except ZenMLError as exc:
            self.notify(f"Error {doing} {label}: {exc.message}", title=f"{verb} failed", severity="error",
                        markup=False)
            # The server may have acted before the answer was lost (a timeout, a dropped link):
            # ask it now rather than show a guess until the next refresh.
            self._mutations += 1
            self._wake.set()
            return
        self._mutations += 1
        sync = self._sync
        if kind == "delete":
            self.devices.pop(device.id, None)
            if sync is not None:
                sync.forget([device.id])
        elif updated is not None:
            self.devices[updated.id] = updated
            if sync is not None:
                sync.learn(updated)
        self._apply({device.id})
        self.notify(f"{done} {label}.", title=done, markup=False)
        if device.id == self.this_device_id and kind in ("lock", "delete"):
            self._wake.set()  # the next request gets 401 and ends the session

    # ------------------------------------------------------------ command palette

    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        device = self.highlighted()
        label = device_label(device) if device is not None else ""
        entries: list[tuple[str, str, str, Callable[[], object]]] = [
            ("lock", "Lock device", f"Lock {label}", self.action_lock),
            ("unlock", "Unlock device", f"Unlock {label}", self.action_unlock),
            ("delete", "Delete device", f"Delete {label}", self.action_delete),
            ("refresh", "Refresh now", "Fetch the device list from the server", self.action_refresh),
            ("filter", "Filter devices", "Narrow the table by hostname, IP, id, OS, location…", self.action_filter),
            ("clear_filter", "Clear filter", "Show every device again", self.action_clear_filter),
            ("sort", "Sort by next column", "Cycle the sort column", self.action_sort),
            ("sort_reverse", "Reverse sort order", "Ascending ↔ descending", self.action_sort_reverse),
            ("copy_id", "Copy device id", f"Copy the full id of {label} (OSC 52)", self.action_copy_id),
            ("describe", "Show or hide details", "The describe pane for the highlighted device", self.action_describe),
        ]
        commands = [(title, help_text, callback) for action, title, help_text, callback in entries
                    if self.check_action(action, ()) is True]
        for column in SORTABLE:
            name = COLUMNS[COLUMN_INDEX[column]].label
            commands.append((f"Sort by {name.lower()}", f"Sort the table by {name}",
                             lambda column=column: self.action_sort(column)))
        commands += [
            ("Help: keys and binding ids", "Every key of this screen, as remapped", self.zapp.action_help),
            ("Sign out", "Forget this server's token and go back to sign-in", self.zapp.action_sign_out),
            ("Switch server", "Sign in to another ZenML server", self.zapp.action_switch_server),
        ]
        return commands

    def palette_devices(self) -> list[tuple[str, str, Callable[[], object]]]:
        now = self.now()
        out = []
        for device in sort_devices(list(self.devices.values()), DEFAULT_SORT, False, now):
            name = device.hostname or device.short_id
            details = " · ".join(x for x in (device.ip_address, device.short_id, device.display_status(now)) if x)
            out.append((f"Go to device {name}", details, lambda i=device.id: self.go_to_device(i)))
        return out


async def _none() -> None:
    return None


async def _drain(extras: "asyncio.Future[list[object]] | None") -> None:
    """Wait for the header's side requests (their errors were collected, not raised)."""
    if extras is not None:
        await extras
