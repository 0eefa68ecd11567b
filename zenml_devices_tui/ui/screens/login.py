"""The device login: who and where, the link and code to approve, a countdown and the outcome in words.

One exclusive worker (group ``login``) does everything that talks to the server: it
fetches ``/api/v1/info`` (retrying with back-off while the server is unreachable), then
runs the :class:`DeviceLogin` state machine and turns its events into screen state. The
screen draws from that state on every event and once a second (the countdown), always
reading time from the injected ``context.monotonic``.
"""

from __future__ import annotations

import asyncio
import webbrowser
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle, Vertical
from textual.widgets import Static

from zenml_devices_tui.core import device_flow as flow
from zenml_devices_tui.core.errors import (
    DeviceAuthNotSupported,
    RateLimited,
    ServerError,
    Unreachable,
    ZenMLError,
)
from zenml_devices_tui.core.models import ServerInfo, TokenResponse
from zenml_devices_tui.core.text import clean_line
from zenml_devices_tui.core.urls import VerificationLink
from zenml_devices_tui.ui.screens.base import AppScreen
from zenml_devices_tui.ui.widgets.footer import AppFooter
from zenml_devices_tui.ui.widgets.login_text import (
    code_text,
    countdown_text,
    format_duration,
    host_warning_text,
    link_text,
    machine_text,
    seconds_left,
    server_text,
    unsupported_text,
)

#: Back-off between automatic retries when the server cannot be reached (seconds).
RETRY_DELAYS = (2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

# Phases of the screen.
CONNECTING = "connecting"  # fetching /api/v1/info
READY = "ready"  # after a session ended: waits for n before asking for a code
UNREACHABLE = "unreachable"  # /info or the start failed: auto-retry scheduled, r retries now
UNSUPPORTED = "unsupported"  # the server does not offer device login
STARTING = "starting"  # asking for a code
WAITING = "waiting"  # showing the link, polling
APPROVED = "approved"
DENIED = "denied"
EXPIRED = "expired"
FAILED = "failed"
CANCELLED = "cancelled"

NEW_CODE_PHASES = {READY, DENIED, EXPIRED, FAILED, CANCELLED}
RETRY_PHASES = {UNREACHABLE, UNSUPPORTED}


def retry_delay(attempt: int) -> float:
    return RETRY_DELAYS[min(max(attempt, 1), len(RETRY_DELAYS)) - 1]


@dataclass
class Poll:
    """What the last ``Waiting`` event said about the next check."""

    next_at: float | None = None
    reason: str = "pending"  # pending | slow_down | error | rate_limited
    message: str | None = None


class LoginScreen(AppScreen):
    """Sign in with the OAuth2 device flow. ``notice`` (why we are here) is shown at the top.

    ``auto_start=False`` (after a session ended or a sign-out) waits for ``n`` before asking
    for a code: a new request for this app's client id resets its device record on the
    server to pending, even a locked one, and that should be the user's choice.
    """

    BINDINGS = [
        Binding("c", "copy_link", "Copy link", id="login.copy"),
        Binding("v", "show_qr", "QR code", id="login.qr"),
        Binding("o", "open_browser", "Open in browser", id="login.open"),
        Binding("n", "new_code", "New code", id="login.new_code"),
        Binding("r", "retry", "Retry", id="login.retry"),
        Binding("s", "app.switch_server", "Other server", id="login.switch_server"),
    ]

    def __init__(self, notice: str | None = None, *, auto_start: bool = True) -> None:
        super().__init__()
        self.notice = notice
        self.auto_start = auto_start
        self.phase = CONNECTING
        self.info: ServerInfo | None = None
        self.link: VerificationLink | None = None
        self.user_code: str | None = None
        self.expires_at: float | None = None
        self.poll = Poll()
        self.error: str | None = None
        self.retry_at: float | None = None
        self.refused: str | None = None
        self._flow: flow.DeviceLogin | None = None
        self._attempts = 0

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                with Vertical(id="login-card", classes="signin-card"):
                    yield Static(id="login-notice")
                    yield Static(Text("Sign in to ZenML", style="bold"), classes="signin-title")
                    yield Static(id="login-server")
                    yield Static(id="login-machine")
                    with Vertical(id="login-approve"):
                        yield Static(
                            Text("Open this link in a browser where you are signed in to ZenML, and approve:"),
                            id="login-instructions",
                        )
                        yield Static(id="login-link")
                        yield Static(id="login-code")
                        yield Static(id="login-warning")
                    yield Static(id="login-status")
        yield AppFooter()

    @property
    def context(self):  # type: ignore[no-untyped-def]
        return self.zapp.context

    @property
    def server_url(self) -> str:
        return self.zapp.server_url or ""

    def on_mount(self) -> None:
        notice = self.query_one("#login-notice", Static)
        notice.update(Text(self.notice or ""))
        notice.display = bool(self.notice)
        self.query_one("#login-machine", Static).update(machine_text(self.context.hostname))
        self.info = self.zapp.server_info
        self._redraw()
        self.set_interval(1.0, self._tick)
        self._start(fetch_info=self.info is None)

    def on_unmount(self) -> None:
        self._cancel_flow()

    # ------------------------------------------------------------ the worker

    def _start(self, *, fetch_info: bool) -> None:
        self._cancel_flow()
        self.run_worker(self._run(fetch_info), name="device-login", group="login",
                        exclusive=True, exit_on_error=False)

    def _cancel_flow(self) -> None:
        if self._flow is not None:
            self._flow.cancel()
            self._flow = None

    async def _run(self, fetch_info: bool) -> None:
        client = self.zapp.client
        if client is None:
            return
        if fetch_info or self.info is None:
            self._set(CONNECTING)
            while True:
                try:
                    self.info = await client.info()
                    self.zapp.server_info = self.info
                    self._attempts = 0
                    break
                except (Unreachable, ServerError, RateLimited) as exc:
                    await self._wait_to_retry(exc)
                except ZenMLError as exc:  # not a ZenML server, a redirect, ...: the user decides
                    self.error = exc.message
                    self.retry_at = None
                    self._set(UNREACHABLE)
                    return
        if not self.info.supports_device_login:
            self._set(UNSUPPORTED)
            return
        if not self.auto_start:
            self.auto_start = True  # n starts the flow from here on
            self._set(READY)
            return
        while await self._device_login(client):
            pass

    async def _device_login(self, client) -> bool:  # type: ignore[no-untyped-def]
        """Run one device flow to its end. True: the start failed for a passing reason, run it again."""
        ctx = self.context
        self._set(STARTING)
        login = flow.DeviceLogin(client, ctx.client_id, ctx.user_agent, clock=ctx.monotonic, sleep=ctx.sleep)
        self._flow = login
        async for event in login.events():
            if self._flow is not login:
                return False
            if isinstance(event, flow.Failed) and self._should_retry_start(event.error):
                await self._wait_to_retry(event.error)
                return True
            await self._on_event(event)
        return False

    def _should_retry_start(self, error: BaseException) -> bool:
        return isinstance(error, (Unreachable, ServerError, RateLimited)) and self.link is None

    async def _wait_to_retry(self, exc: ZenMLError) -> None:
        self._attempts += 1
        delay = retry_delay(self._attempts)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            delay = max(delay, float(retry_after))
        self.error = exc.message
        self.retry_at = self.context.monotonic() + delay
        self._set(UNREACHABLE)
        await self.context.sleep(delay)
        self.retry_at = None
        self._set(CONNECTING)

    async def _on_event(self, event: flow.LoginEvent) -> None:
        if isinstance(event, flow.Started):
            self.link = event.link
            self.user_code = event.user_code
            self.expires_at = event.expires_at
            self.poll = Poll()
            self._attempts = 0
            self._set(WAITING)
        elif isinstance(event, flow.Waiting):
            self.poll = Poll(next_at=event.next_poll_at, reason=event.reason, message=_problem(event))
            self._set(WAITING)
        elif isinstance(event, flow.Approved):
            self._set(APPROVED)
            await self._signed_in(event.token)
        elif isinstance(event, flow.Denied):
            self.error = event.message
            self._set(DENIED)
        elif isinstance(event, flow.Expired):
            self.error = None if event.message == flow.MSG_EXPIRED_LOCAL else event.message
            self._set(EXPIRED)
        elif isinstance(event, flow.InvalidClient):
            self.error = "The server no longer knows this sign-in request (invalid client)."
            self._set(FAILED)
        elif isinstance(event, flow.Failed):
            if isinstance(event.error, DeviceAuthNotSupported):
                self.refused = event.error.detail or event.error.message
                self._set(UNSUPPORTED)
            else:
                self.error = event.message
                self._set(FAILED)
        elif isinstance(event, flow.Cancelled):
            self._set(CANCELLED)

    async def _signed_in(self, response: TokenResponse) -> None:
        from zenml_devices_tui.core.token_store import StoredToken

        self._flow = None
        try:
            token = StoredToken.from_token_response(
                self.server_url,
                response,
                server_id=self.info.id if self.info else None,
                now=self.context.clock(),
            )
        except ZenMLError as exc:  # a token this app cannot use: say so rather than hang on "Signing in"
            self.error = exc.message
            self._set(FAILED)
            return
        await self.zapp.signed_in(token)

    # ------------------------------------------------------------ state → screen

    def _set(self, phase: str) -> None:
        self.phase = phase
        self.refresh_bindings()
        self._redraw()

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        phase = self.phase
        self.query_one("#login-server", Static).update(server_text(self.info, self.server_url, insecure=self.context.insecure))
        showing_link = self.link is not None and phase in (WAITING, APPROVED)
        approve = self.query_one("#login-approve")
        approve.display = showing_link
        if showing_link and self.link is not None:
            self.query_one("#login-link", Static).update(link_text(self.link.url))
            self.query_one("#login-code", Static).update(code_text(self.user_code or ""))
            warning = self.query_one("#login-warning", Static)
            warning.display = self.link.host_differs
            if self.link.host_differs:
                warning.update(host_warning_text(self.link.url, self.server_url))
        status = self.query_one("#login-status", Static)
        status.set_class(phase in (DENIED, EXPIRED, FAILED, UNREACHABLE, UNSUPPORTED), "-problem")
        status.set_class(phase == APPROVED, "-ok")
        self._tick()

    def _tick(self) -> None:
        """Once a second: the countdown and the status line (the only parts that move with time)."""
        if self.is_mounted:
            self.query_one("#login-status", Static).update(self.status_text(self.context.monotonic()))

    def status_text(self, now: float) -> Text:
        """The outcome or progress in words (also used by tests)."""
        phase = self.phase
        text = Text()
        if phase == CONNECTING:
            text.append("Connecting to ")
            text.append(self.server_url)
            text.append("…")
        elif phase == UNREACHABLE:
            text.append("Cannot sign in at ", style="bold")
            text.append(self.server_url, style="bold")
            text.append("\n")
            text.append(clean_line(self.error or "The server did not answer.", limit=300))
            text.append("\n")
            left = seconds_left(self.retry_at, now)
            if left is not None:
                text.append(f"Retrying by itself in {format_duration(left)}; press r to retry now.")
            else:
                text.append("Press r to retry, or s to use another server.")
        elif phase == UNSUPPORTED:
            text.append_text(unsupported_text(self.info, self.refused))
        elif phase == READY:
            text.append("Press n to sign in again with a new code.", style="bold")
        elif phase == STARTING:
            text.append("Asking the server for a sign-in code…")
        elif phase == WAITING:
            text.append_text(countdown_text(seconds_left(self.expires_at, now)))
            text.append("\n")
            text.append_text(self._poll_text(now))
        elif phase == APPROVED:
            text.append("Approved. Signing in…", style="bold")
        elif phase == DENIED:
            text.append("Denied. ", style="bold")
            text.append(clean_line(self.error or flow.MSG_DENIED, limit=300))
            text.append("\nPress n for a new code.")
        elif phase == EXPIRED:
            text.append("Expired. ", style="bold")
            text.append(clean_line(self.error or "The code expired before it was approved.", limit=300))
            text.append("\nPress n for a new code.")
        elif phase == FAILED:
            text.append("Sign-in failed. ", style="bold")
            text.append(clean_line(self.error or "Unknown error.", limit=300))
            text.append("\nPress n for a new code.")
        elif phase == CANCELLED:
            text.append("Sign-in cancelled. Press n for a new code.")
        return text

    def _poll_text(self, now: float) -> Text:
        poll = self.poll
        left = seconds_left(poll.next_at, now)
        when = f"{format_duration(left)}" if left is not None else "a moment"
        text = Text()
        if poll.next_at is not None and self.expires_at is not None and poll.next_at >= self.expires_at:
            text.append("Waiting for approval; no check is left before the code expires.")
        elif poll.reason == "rate_limited":
            text.append(f"Rate limited by the server: waiting {when} before the next check.")
        elif poll.reason == "slow_down":
            text.append(f"Slowed down by the server: next check in {when}.")
        elif poll.reason == "error":
            text.append(f"Waiting for approval, but the last check failed; retrying in {when}.")
            if poll.message:
                text.append("\n")
                text.append(clean_line(poll.message, limit=200), style="dim")
        else:
            text.append(f"Waiting for approval · next check in {when}.")
        return text

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        has_link = self.link is not None and self.phase == WAITING
        if action in ("copy_link", "show_qr"):
            return True if has_link else None
        if action == "open_browser":
            if not self.context.can_open_browser:
                return False
            return True if has_link else None
        # n and r apply only to some outcomes (the status line names them): hidden otherwise,
        # which also keeps the footer within 80 columns.
        if action == "new_code":
            return self.phase in NEW_CODE_PHASES
        if action == "retry":
            return self.phase in RETRY_PHASES
        return True

    def action_copy_link(self) -> None:
        if self.link is None:
            return
        self.app.copy_to_clipboard(self.link.url)
        self.notify("Copied the sign-in link to the clipboard.", title="Copied")

    def action_show_qr(self) -> None:
        if self.link is None:
            return
        from zenml_devices_tui.ui.screens.qr import QRScreen

        self.app.push_screen(QRScreen(self.link.url))

    def action_open_browser(self) -> None:
        if self.link is None or not self.context.can_open_browser:
            return
        self.run_worker(self._open_browser(self.link.url), name="open-browser", group="browser",
                        exit_on_error=False)

    async def _open_browser(self, url: str) -> None:
        # webbrowser.open can block (it may start a process): it runs in a thread, and only on request.
        opened = await asyncio.to_thread(webbrowser.open, url)
        if opened:
            self.notify("Opened the sign-in link in your browser.", title="Browser")
        else:
            self.notify("No browser could be started here; press c to copy the link instead.",
                        title="Browser", severity="warning")

    def action_new_code(self) -> None:
        if self.phase not in NEW_CODE_PHASES:
            return
        self._reset_code()
        self._start(fetch_info=False)

    def action_retry(self) -> None:
        if self.phase not in RETRY_PHASES:
            return
        self._attempts = 0
        self.refused = None
        self._reset_code()
        self._start(fetch_info=True)

    def _reset_code(self) -> None:
        self.link = None
        self.user_code = None
        self.expires_at = None
        self.poll = Poll()
        self.error = None


def _problem(event: flow.Waiting) -> str | None:
    """The reason a poll failed, in words (the countdown to the next try is drawn live)."""
    return event.problem if event.reason == "error" else None
