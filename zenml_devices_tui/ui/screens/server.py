"""Asks which ZenML server to use, when none is known: a URL field and the recently used servers."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle, Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from zenml_devices_tui.core.errors import ZenMLError
from zenml_devices_tui.core.text import clean
from zenml_devices_tui.core.urls import check_transport_security, normalize_server_url
from zenml_devices_tui.ui.screens.base import AppScreen
from zenml_devices_tui.ui.widgets.footer import AppFooter

PLACEHOLDER = "https://zenml.example.com"


def checked_server_url(text: str, *, insecure: bool) -> str:
    """The normalised URL, or :class:`ZenMLError` saying in words what is wrong with it."""
    url = normalize_server_url(text)
    check_transport_security(url, insecure=insecure)
    return url


class ServerScreen(AppScreen):
    """Type a server URL (enter connects) or pick a recent one (↓ then enter)."""

    BINDINGS = [
        Binding("down", "focus_recent", "Recent servers", show=False, id="server.recent"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.recent: list[str] = []

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                with Vertical(id="server-card", classes="signin-card"):
                    yield Static(Text("Connect to a ZenML server", style="bold"), classes="signin-title")
                    yield Label("Server URL", classes="muted")
                    yield Input(placeholder=PLACEHOLDER, id="server-url")
                    yield Static(id="server-error")
                    yield Static(
                        Text("enter connects · ctrl+q quits · plain http:// only for localhost"),
                        classes="muted",
                        id="server-hint",
                    )
                    yield Label("Recent servers (↓ to choose, enter to connect)", id="recent-label", classes="muted")
                    yield OptionList(id="recent-servers")
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#server-error", Static).display = False
        self._show_recent([])
        self.query_one("#server-url", Input).focus()
        self.run_worker(self._load_recent(), name="recent-servers", group="recent",
                        exclusive=True, exit_on_error=False)

    async def _load_recent(self) -> None:
        from zenml_devices_tui.core.config import load_state

        context = self.zapp.context
        try:
            state = await asyncio.to_thread(load_state, context.config_dir)
        except Exception:  # a broken state file only costs the list
            return
        self._show_recent([clean(url) for url in getattr(state, "recent_servers", []) or [] if url])

    def _show_recent(self, urls: list[str]) -> None:
        self.recent = urls
        options = self.query_one("#recent-servers", OptionList)
        options.clear_options()
        options.add_options([Option(Text(url), id=f"recent-{i}") for i, url in enumerate(urls)])
        options.display = bool(urls)
        self.query_one("#recent-label", Label).display = bool(urls)
        if urls:
            options.highlighted = 0

    # ------------------------------------------------------------ actions

    @on(Input.Changed, "#server-url")
    def _clear_error(self) -> None:
        self._set_error(None)

    @on(Input.Submitted, "#server-url")
    def _submitted(self, event: Input.Submitted) -> None:
        self.submit(event.value)

    @on(OptionList.OptionSelected, "#recent-servers")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        index = event.option_index
        if 0 <= index < len(self.recent):
            self.submit(self.recent[index])

    def submit(self, text: str) -> None:
        if not text.strip():
            self._set_error("Type the URL of your ZenML server, for example " + PLACEHOLDER + ".")
            return
        try:
            url = checked_server_url(text, insecure=self.zapp.context.insecure)
        except ZenMLError as exc:
            self._set_error(exc.message)
            return
        self.zapp.connect(url)

    def _set_error(self, message: str | None) -> None:
        error = self.query_one("#server-error", Static)
        error.update(Text(message or ""))
        error.display = bool(message)

    def action_focus_recent(self) -> None:
        options = self.query_one("#recent-servers", OptionList)
        if options.display:
            options.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_recent":
            return bool(self.recent)
        return True
