"""The Textual application: owns the session (client, token) and switches screens.

Screens:
* :class:`ServerScreen`: asks which server, when none is known;
* :class:`LoginScreen`: the device login;
* :class:`DevicesScreen`: the live table.

The app never builds its own HTTP client: it calls ``context.make_client(url)``.
"""

from __future__ import annotations

import asyncio
import os

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.core.config import first_time, remember_server
from zenml_devices_tui.core.context import AppContext
from zenml_devices_tui.core.errors import NotAuthenticated, ZenMLError
from zenml_devices_tui.core.models import ServerInfo
from zenml_devices_tui.core.token_store import StoredToken

SESSION_ENDED = "This session was locked, deleted or expired on the server. Sign in again."


class DevicesApp(App[None]):
    """zenml-devices."""

    CSS_PATH = "app.tcss"
    TITLE = "zenml-devices"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
    ]

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.client: ZenMLClient | None = None
        self.server_url: str | None = None
        self.server_info: ServerInfo | None = None
        self.stored_token: StoredToken | None = None
        self.animation_level = "none"
        if context.config.theme:
            self._wanted_theme: str | None = context.config.theme
        else:
            self._wanted_theme = None

    # ------------------------------------------------------------ start

    def on_mount(self) -> None:
        self._watch_terminal()
        if self._wanted_theme:
            try:
                self.theme = self._wanted_theme
            except Exception:  # an unknown theme name in config.toml
                self.notify(f"Unknown theme {self._wanted_theme!r} in config.toml; using the default.",
                            severity="warning", markup=False)
        if self.context.config.keymap:
            self.set_keymap(dict(self.context.config.keymap))
        if self.context.insecure:
            self.notify("TLS verification is off (--insecure): only use this on a network you trust.",
                        title="Insecure", severity="warning", timeout=10)
        self.run_worker(self._storage_notice(), group="notice", exit_on_error=False)
        if self.context.server_url:
            self.connect(self.context.server_url)
        else:
            from zenml_devices_tui.ui.screens.server import ServerScreen

            self.push_screen(ServerScreen())

    def _watch_terminal(self) -> None:
        """Exit when the terminal goes away (an SSH link drops) even if no SIGHUP reaches us.

        Without a SIGHUP (no controlling terminal, or SIGHUP ignored) Textual's input thread
        reads EOF from the dead terminal in a tight loop: the process would spin at 100% CPU
        for ever. A hung-up terminal stops being a tty, which is cheap to check once a second.
        """
        import sys

        try:
            fd = sys.__stdin__.fileno()
        except (AttributeError, ValueError, OSError):
            return
        if self.is_headless or not os.isatty(fd):
            return

        def check() -> None:
            if not os.isatty(fd):
                self.exit(return_code=129)  # 128 + SIGHUP, as if the hangup had been delivered

        self.set_interval(1.0, check, name="terminal-watch")

    async def _storage_notice(self) -> None:
        """What opening the token store found: a corrupt file (said every time), and where tokens
        live when there is no keyring (said once per config directory, not on every start).

        The store may open lazily (the keyring look-up takes ~0.1 s), so it is asked in a thread.
        """
        store = self.context.token_store
        try:
            problems, notice = await asyncio.to_thread(lambda: (store.problems, store.fallback_notice))
        except ZenMLError as exc:
            self.notify(exc.message, title="Token storage", severity="error", timeout=10, markup=False)
            return
        for problem in problems:
            self.notify(problem, title="Token storage", severity="warning", timeout=10, markup=False)
        if not notice:
            return
        if self.context.remember_servers:
            try:
                if not await asyncio.to_thread(first_time, self.context.config_dir, "token-store-fallback"):
                    return
            except (OSError, ZenMLError):
                pass  # cannot remember: say it (again)
        self.notify(notice, title="Token storage", timeout=10, markup=False)

    # ------------------------------------------------------------ session

    def connect(self, url: str) -> None:
        """Use the server at ``url``: a stored token opens the devices, else the login."""
        old = self.client
        self.client = self.context.make_client(url)
        self.server_url = self.client.base_url
        self.server_info = None
        if old is not None:
            self.run_worker(old.aclose(), group="close", exit_on_error=False)
        self._load_session()

    def _load_session(self) -> None:
        self.run_worker(self._load_session_work(), name="load-session", group="session",
                        exclusive=True, exit_on_error=False)

    async def _load_session_work(self) -> None:
        url = self.server_url
        assert url is not None
        store = self.context.token_store
        if self.context.remember_servers:
            try:
                await asyncio.to_thread(remember_server, self.context.config_dir, url)
            except OSError:
                pass  # remembering is a convenience only
        token: StoredToken | None = None
        try:
            token = await asyncio.to_thread(store.get, url)
        except ZenMLError as exc:
            self.notify(exc.message, title="Token storage", severity="error", timeout=10, markup=False)
        if token is not None and token.is_expired(self.context.clock()):
            token = None
        if token is not None:
            self._use_token(token)
            self.show_devices()
        else:
            self.show_login()

    def _use_token(self, token: StoredToken) -> None:
        self.stored_token = token
        assert self.client is not None
        self.client.token = token.access_token

    async def signed_in(self, token: StoredToken) -> None:
        """Called by the login screen once the server issued a token."""
        self._use_token(token)
        try:
            await asyncio.to_thread(self.context.token_store.put, token)
        except ZenMLError as exc:
            self.notify(f"{exc.message} You are signed in for this run only.",
                        title="Token not saved", severity="warning", timeout=10, markup=False)
        self.show_devices()

    def session_ended(self, message: str = SESSION_ENDED) -> None:
        """A 401: forget the token and go back to the sign-in screen, saying why."""
        self._forget_token()
        self.show_login(notice=message, auto_start=False)

    def action_sign_out(self) -> None:
        self._forget_token()
        self.show_login(notice="Signed out. The token was removed from this machine.", auto_start=False)

    def _forget_token(self) -> None:
        self.stored_token = None
        if self.client is not None:
            self.client.token = None
        url = self.server_url
        if url is None:
            return

        async def forget() -> None:
            try:
                await asyncio.to_thread(self.context.token_store.delete, url)
            except ZenMLError as exc:
                self.notify(exc.message, title="Token storage", severity="error", markup=False)

        self.run_worker(forget(), group="token", exit_on_error=False)

    def action_switch_server(self) -> None:
        from zenml_devices_tui.ui.screens.server import ServerScreen

        self._show_screen(ServerScreen())

    # ------------------------------------------------------------ screens

    def show_login(self, notice: str | None = None, *, auto_start: bool = True) -> None:
        from zenml_devices_tui.ui.screens.login import LoginScreen

        self._show_screen(LoginScreen(notice=notice, auto_start=auto_start))

    def show_devices(self) -> None:
        from zenml_devices_tui.ui.screens.devices import DevicesScreen

        self._show_screen(DevicesScreen())

    def _show_screen(self, screen: Screen) -> None:
        while len(self.screen_stack) > 1 and isinstance(self.screen, ModalScreen):
            self.pop_screen()
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def action_help(self) -> None:
        from zenml_devices_tui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    # ------------------------------------------------------------ errors

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.handle_worker_failure(event)

    def handle_worker_failure(self, event: Worker.StateChanged) -> bool:
        """The one place that turns a failed worker into words (workers run with exit_on_error=False).

        Worker.StateChanged does not bubble: screens forward theirs here (see
        ``screens.base.AppScreen``). Returns True when the event was a failure it handled.
        """
        if event.state != WorkerState.ERROR:
            return False
        error = event.worker.error
        if isinstance(error, NotAuthenticated) and self.stored_token is not None:
            self.session_ended()
        elif isinstance(error, ZenMLError):
            self.notify(error.message, title="Error", severity="error", markup=False)  # may quote the server
        else:
            self.notify(f"Unexpected error: {type(error).__name__}", title="Error", severity="error")
            if os.environ.get("ZENML_DEVICES_DEBUG"):
                self.log.error(repr(error))
        return True

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.aclose()
