"""The devices screen's header: server, user, session lifetime, last refresh and connection state.

It draws a :class:`HeaderInfo` and nothing else; the screen decides what it says. Server
strings go in as ``Text`` pieces, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from zenml_devices_tui.ui.widgets.theme_styles import status_styles

#: Connection states, each with a word and a symbol (never colour alone).
CONNECTION_WORDS = {
    "loading": ("◌", "loading…"),
    "live": ("●", "live"),
    "retrying": ("↻", "retrying…"),
    "stale": ("▲", "stale"),
}


@dataclass(frozen=True)
class HeaderInfo:
    server_name: str | None = None
    server_url: str = ""
    user: str | None = None
    session: str = ""
    last_refresh: str | None = None
    connection: str = "loading"
    stale_since: str | None = None
    problem: str | None = None
    summary: str = ""


class DevicesHeader(Vertical):
    """Three lines: where and who; session and connection; what the table shows.

    Each line is its own widget, redrawn only when its text changed, so the usual refresh
    (only "last refresh" moves) rewrites one line of the terminal.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._info: HeaderInfo | None = None
        self._lines = [Static("", classes="header-line", markup=False) for _ in range(3)]
        self._drawn: list[Text | None] = [None, None, None]

    def compose(self) -> ComposeResult:
        yield from self._lines

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self, _theme: str) -> None:
        if self._info is not None:
            self._drawn = [None, None, None]
            self._draw(self._info)

    def show(self, info: HeaderInfo) -> None:
        if info == self._info:
            return
        self._info = info
        self._draw(info)
        self.set_class(info.connection == "stale", "-stale")

    @property
    def plain(self) -> str:
        """The three lines as plain text."""
        return "\n".join(t.plain if t is not None else "" for t in self._drawn)

    def _draw(self, info: HeaderInfo) -> None:
        for index, text in enumerate(self._texts_for(info)):
            if text != self._drawn[index]:
                self._drawn[index] = text
                self._lines[index].update(text, layout=False)

    def _texts_for(self, info: HeaderInfo) -> list[Text]:
        where = Text(end="")
        where.append("ZenML ", style="bold")
        where.append(info.server_name or "server", style="bold")
        where.append("  ")
        where.append(info.server_url, style="underline")
        where.append("   signed in as ", style="dim")
        where.append(info.user or "…")

        state = Text(end="")
        state.append("session ", style="dim")
        state.append(info.session or "…")
        state.append("   last refresh ", style="dim")
        state.append(info.last_refresh or "–")
        state.append("   ")
        symbol, word = CONNECTION_WORDS.get(info.connection, ("?", info.connection))
        style = status_styles(self.app.current_theme).get(info.connection, "")
        if info.connection == "stale" and info.stale_since:
            word = f"stale since {info.stale_since}"
        state.append(f"{symbol} {word}", style=style)
        if info.problem:
            state.append(f"  {info.problem}", style="dim")

        summary = Text(info.summary, style="dim", end="")
        return [where, state, summary]
