"""The devices screen's header: server, user, session lifetime, last refresh and connection state.

It draws a :class:`HeaderInfo` and nothing else; the screen decides what it says. Server
strings go in as ``Text`` pieces, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
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
    #: TLS verification is off (--insecure): said for as long as the app runs, not only in a toast.
    insecure: bool = False


class DevicesHeader(Vertical):
    """Three lines: where and who; session and connection; what the table shows.

    Each piece is its own widget, redrawn only when its text changed. The usual refresh moves
    only the "last refresh" clock, which has a widget of its own: a dozen cells are rewritten,
    not a line of the terminal.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._info: HeaderInfo | None = None
        # where | session + "last refresh " | the clock | connection state | summary
        self._pieces = [
            Static("", classes="header-line", markup=False),
            Static("", classes="header-piece", id="header-session", markup=False),
            Static("", classes="header-piece", id="header-clock", markup=False),
            Static("", classes="header-piece", id="header-connection", markup=False),
            Static("", classes="header-line", markup=False),
        ]
        self._drawn: list[Text | None] = [None] * len(self._pieces)

    def compose(self) -> ComposeResult:
        yield self._pieces[0]
        with Horizontal(classes="header-line header-state"):
            yield from self._pieces[1:4]
        yield self._pieces[4]

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self, _theme: str) -> None:
        if self._info is not None:
            self._drawn = [None] * len(self._pieces)
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
        plain = [t.plain if t is not None else "" for t in self._drawn]
        return "\n".join((plain[0], "".join(plain[1:4]), plain[4]))

    def _draw(self, info: HeaderInfo) -> None:
        for index, text in enumerate(self._texts_for(info)):
            old = self._drawn[index]
            if text != old:
                self._drawn[index] = text
                # The clock always has the same width; other pieces may change theirs.
                same_width = old is not None and old.cell_len == text.cell_len
                self._pieces[index].update(text, layout=not same_width)

    def _texts_for(self, info: HeaderInfo) -> list[Text]:
        where = Text(end="")
        where.append("ZenML ", style="bold")
        where.append(info.server_name or "server", style="bold")
        where.append("  ")
        where.append(info.server_url, style="underline")
        if info.insecure:
            where.append("  ⚠ TLS not verified", style=status_styles(self.app.current_theme)["stale"])
        where.append("   signed in as ", style="dim")
        where.append(info.user or "…")

        session = Text(end="")
        session.append("session ", style="dim")
        session.append(info.session or "…")
        session.append("   last refresh ", style="dim")
        clock = Text(info.last_refresh or "–", end="")
        state = Text(end="")
        state.append("   ")
        symbol, word = CONNECTION_WORDS.get(info.connection, ("?", info.connection))
        style = status_styles(self.app.current_theme).get(info.connection, "")
        if info.connection == "stale" and info.stale_since:
            word = f"stale since {info.stale_since}"
        state.append(f"{symbol} {word}", style=style)
        if info.problem:
            state.append(f"  {info.problem}", style="dim")

        summary = Text(info.summary, style="dim", end="")
        return [where, session, clock, state, summary]
