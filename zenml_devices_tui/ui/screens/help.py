"""Help: every key binding of a screen and of the app (as remapped by the keymap), with its id.

``HelpScreen(screen)`` lists the bindings of ``screen`` and of the app with the keys in
effect (``[keymap]`` in config.toml applied), what each does and its binding id (the name to
use in the keymap), then the actions offered only in the command palette. A screen lists
those in ``PALETTE_ONLY``: a sequence of (title, description) pairs. Escape, ``q`` or ``?``
closes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


@dataclass(frozen=True)
class HelpEntry:
    keys: str
    description: str
    binding_id: str
    scope: str


def _effective(node: DOMNode, keymap: dict[str, str]) -> list[tuple[str, Binding]]:
    """(key, binding) pairs of ``node`` with the keymap applied, in declaration order."""
    bindings: BindingsMap = node._bindings.copy()  # what Textual itself uses for dispatch
    if keymap:
        bindings.apply_keymap(keymap)
    return [(key, binding) for key, items in bindings.key_to_bindings.items() for binding in items]


def binding_entries(node: DOMNode, scope: str) -> list[HelpEntry]:
    """One entry per binding id (or action), keys joined: ``j, down``."""
    app = node.app
    keymap = dict(getattr(app, "_keymap", {}) or {})
    order: list[str] = []
    keys: dict[str, list[str]] = {}
    described: dict[str, Binding] = {}
    for key, binding in _effective(node, keymap):
        if binding.system:
            continue
        ident = binding.id or f"{binding.action}\0{binding.description}"
        if ident not in keys:
            order.append(ident)
            keys[ident] = []
            described[ident] = binding
        display = app.get_key_display(Binding(key, binding.action, key_display=binding.key_display if binding.key == key else None))
        if display not in keys[ident]:
            keys[ident].append(display)
    entries = []
    for ident in order:
        binding = described[ident]
        entries.append(
            HelpEntry(
                keys=", ".join(keys[ident]),
                description=(
                    "Command palette: every action, go to a device"
                    if binding.action.endswith("command_palette")
                    else " — ".join(x for x in (binding.description, binding.tooltip) if x) or binding.action
                ),
                binding_id=binding.id or "",
                scope=scope,
            )
        )
    return entries


SCOPE_TITLES = {
    "widget": "Moving around (the focused widget)",
    "screen": "This screen",
    "app": "Everywhere",
    "palette": "Only in the command palette (ctrl+p)",
}


def help_entries(screen: Screen) -> list[HelpEntry]:
    entries = binding_entries(screen, "screen")
    focused = screen.focused
    if focused is not None:
        for node in focused.ancestors_with_self:
            if node is screen or node is screen.app:
                break
            entries += binding_entries(node, "widget")
    entries += binding_entries(screen.app, "app")
    for title, description in getattr(screen, "PALETTE_ONLY", ()):
        entries.append(HelpEntry("ctrl+p", f"{title}: {description}" if description else title, "", "palette"))
    return entries


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("q", "close", "Close", show=False, id="help.close_q"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_help", key_display="?"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self._for = screen
        self.entries = help_entries(screen)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog") as dialog:
            dialog.border_title = "Keys"
            dialog.border_subtitle = "escape, q or ? closes"
            with VerticalScroll(id="help-scroll"):
                yield Static(self._table(), id="help-table")

    def _table(self) -> Group:
        """One table per scope, with the same column widths, so the columns line up."""
        tables = []
        scopes: list[str] = []
        for entry in self.entries:
            if entry.scope not in scopes:
                scopes.append(entry.scope)
        key_width = max([len(e.keys) for e in self.entries] + [8])
        id_width = max([len(e.binding_id) for e in self.entries] + [10])
        for index, scope in enumerate(scopes):
            table = Table(
                box=None,
                show_header=index == 0,
                header_style="bold",
                pad_edge=False,
                expand=True,
                title=Text(SCOPE_TITLES.get(scope, scope), style="bold"),
                title_justify="left",
            )
            table.add_column(Text("Key"), no_wrap=True, width=key_width)
            table.add_column(Text("Action"), ratio=1)
            table.add_column(Text("Binding id"), style="dim", no_wrap=True, width=id_width)
            for entry in self.entries:
                if entry.scope == scope:
                    table.add_row(Text(entry.keys, style="bold"), Text(entry.description), Text(entry.binding_id))
            tables.append(table)
            tables.append(Text(""))
        tables.append(Text("Remap a key with its binding id in the [keymap] table of config.toml, "
                           'e.g. "devices.lock" = "x".', style="dim"))
        return Group(*tables)

    def action_close(self) -> None:
        self.dismiss(None)
