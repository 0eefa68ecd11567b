"""Device login (RFC 8628) as a plain async state machine.

:class:`DeviceLogin` asks the server for a device code, then polls for the token and
says what it is doing through events: :class:`Started` once, :class:`Waiting` before
every wait, and exactly one terminal event at the end (:class:`Approved`,
:class:`Denied`, :class:`Expired`, :class:`InvalidClient`, :class:`Failed` or
:class:`Cancelled`). Time comes from the injected ``clock`` (monotonic seconds) and
``sleep``, so tests run it in no real time.

Rules it keeps (zenml-api.md §1, §2):

* a missing ``interval`` means 5 s; an interval outside 1..300 s (or not shorter than
  the lifetime) or a lifetime outside 1 s..1 day is refused;
* ``slow_down`` adds 5 s to every later poll; 429, transport errors and 5xx back off
  (2 × interval, doubling, capped at ``max_backoff``, at least ``Retry-After``) and
  keep going; the back-off resets after a normal answer;
* never two polls closer than the current interval (measured from the end of the
  previous answer);
* the server keeps saying ``authorization_pending`` after the request expired, so the
  flow keeps its own deadline and stops with :class:`Expired` instead of polling at or
  after it;
* the device code stays a :class:`Secret`, and is scrubbed from any server message
  that echoes it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, ClassVar, Literal, Protocol

from zenml_devices_tui.core.errors import (
    BadResponse,
    OAuthError,
    RateLimited,
    ServerError,
    Unreachable,
    ZenMLError,
)
from zenml_devices_tui.core.models import DeviceAuthorization, TokenResponse
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.urls import VerificationLink, verification_link

#: RFC 8628 §3.2: the interval when the server sends none.
DEFAULT_INTERVAL = 5.0
#: Longest polling interval accepted from a server (the default lifetime is 300 s).
MAX_INTERVAL = 300.0
#: Longest lifetime accepted for a device code.
MAX_EXPIRES_IN = 86_400.0
#: RFC 8628 §3.5: ``slow_down`` adds this to the interval for all later polls.
SLOW_DOWN_STEP = 5.0

WaitReason = Literal["pending", "slow_down", "rate_limited", "error"]


class DeviceLoginClient(Protocol):
    """What :class:`DeviceLogin` needs from a client (``ZenMLClient`` fits)."""

    base_url: str

    async def start_device_authorization(self, client_id: str, user_agent: str) -> DeviceAuthorization: ...

    async def poll_device_token(self, client_id: str, device_code: Secret) -> TokenResponse: ...


# ---------------------------------------------------------------- events


class LoginEvent:
    """Base of every event; ``terminal`` is true for the last one."""

    terminal: ClassVar[bool] = False


@dataclass(frozen=True)
class Started(LoginEvent):
    """The server issued a code: show ``link`` (``user_code`` for reference only)."""

    link: VerificationLink
    user_code: str
    expires_at: float  # on the injected monotonic clock
    interval: float


@dataclass(frozen=True)
class Waiting(LoginEvent):
    """About to wait until ``next_poll_at`` (the deadline itself when the link expires first)."""

    reason: WaitReason
    next_poll_at: float
    interval: float
    message: str
    problem: str | None = None  # for reason "error": what went wrong with the last poll, in words


@dataclass(frozen=True)
class Approved(LoginEvent):
    terminal: ClassVar[bool] = True
    token: TokenResponse


@dataclass(frozen=True)
class Denied(LoginEvent):
    """``access_denied``: the device is locked, or the code was refused."""

    terminal: ClassVar[bool] = True
    message: str


@dataclass(frozen=True)
class Expired(LoginEvent):
    """``expired_token`` from the server, or the local deadline passed."""

    terminal: ClassVar[bool] = True
    message: str


@dataclass(frozen=True)
class InvalidClient(LoginEvent):
    """``invalid_client``: the server has no sign-in request for this client id."""

    terminal: ClassVar[bool] = True
    message: str


@dataclass(frozen=True)
class Failed(LoginEvent):
    """Anything unexpected: the start failed, a bad link, an error that retrying cannot fix."""

    terminal: ClassVar[bool] = True
    error: ZenMLError
    message: str


@dataclass(frozen=True)
class Cancelled(LoginEvent):
    terminal: ClassVar[bool] = True


# ---------------------------------------------------------------- messages

MSG_PENDING = "Waiting for you to approve this device in the browser."
MSG_EXPIRED_LOCAL = "The sign-in link expired before it was approved. Start again for a new link."
MSG_EXPIRED_SERVER = "The server says this sign-in request expired or was already used. Start again for a new link."
MSG_INVALID_CLIENT = "The server no longer knows this sign-in request (invalid client). Start again."
MSG_DENIED = "The server refused this sign-in: the device is locked or the approval was refused."


class _UserCancelled(Exception):
    pass


class DeviceLogin:
    """One run of the device flow. Iterate :meth:`events` once; :meth:`cancel` ends it early."""

    def __init__(
        self,
        client: DeviceLoginClient,
        client_id: str,
        user_agent: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        max_backoff: float = 60.0,
    ) -> None:
        self._client = client
        self._client_id = client_id
        self._user_agent = user_agent
        self._clock = clock
        self._sleep = sleep
        self._max_backoff = float(max_backoff)
        self._cancelled = False
        self._cancel_event: asyncio.Event | None = None
        self._ran = False
        self._device_code: Secret | None = None

    def __repr__(self) -> str:
        return f"DeviceLogin(client_id={self._client_id!r}, cancelled={self._cancelled})"

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """End the flow at its next await (also mid-sleep or mid-request); it then yields :class:`Cancelled`.

        Call it from the event loop's thread.
        """
        self._cancelled = True
        if self._cancel_event is not None:
            self._cancel_event.set()

    async def events(self) -> AsyncIterator[LoginEvent]:
        """Run the flow, yielding events; ends right after one terminal event."""
        if self._ran:
            raise RuntimeError("DeviceLogin.events() runs once; make a new DeviceLogin to sign in again.")
        self._ran = True
        self._cancel_event = asyncio.Event()
        if self._cancelled:
            self._cancel_event.set()
        flow = self._flow()
        try:
            async for event in flow:
                yield event
                if event.terminal:
                    return
                self._check_cancel()
        except _UserCancelled:
            yield Cancelled()
        finally:
            await flow.aclose()

    # ------------------------------------------------------------ the flow

    async def _flow(self) -> AsyncIterator[LoginEvent]:
        self._check_cancel()
        begun = self._clock()
        try:
            auth = await self._race(self._client.start_device_authorization(self._client_id, self._user_agent))
        except ZenMLError as exc:
            yield self._failed(exc, "Could not start the sign-in")
            return
        self._device_code = auth.device_code

        problem = _check_authorization(auth)
        if problem is not None:
            yield self._failed(BadResponse(problem), None)
            return
        try:
            link = verification_link(self._client.base_url, auth.verification_uri, auth.verification_uri_complete)
        except ZenMLError as exc:
            yield self._failed(exc, None)
            return

        interval = float(auth.interval) if auth.interval is not None else DEFAULT_INTERVAL
        expires_at = begun + float(auth.expires_in)
        yield Started(link=link, user_code=auth.user_code, expires_at=expires_at, interval=interval)

        backoff = 0.0  # 0: not backing off
        wait = interval
        reason: WaitReason = "pending"
        problem_text = ""
        while True:
            now = self._clock()
            if now >= expires_at:
                yield Expired(MSG_EXPIRED_LOCAL)
                return
            next_poll_at = now + wait
            if next_poll_at >= expires_at:
                # No poll at or after the deadline: wait for it, then say so.
                yield Waiting(reason, expires_at, interval, self._wait_message(reason, problem_text, None),
                              problem_text or None)
                await self._wait_until(expires_at)
                yield Expired(MSG_EXPIRED_LOCAL)
                return
            yield Waiting(reason, next_poll_at, interval, self._wait_message(reason, problem_text, wait),
                          problem_text or None)
            await self._wait_until(next_poll_at)
            if self._clock() >= expires_at:
                yield Expired(MSG_EXPIRED_LOCAL)
                return

            try:
                token = await self._race(self._client.poll_device_token(self._client_id, auth.device_code))
            except OAuthError as exc:
                code = exc.code
                if code == "authorization_pending":
                    backoff, wait, reason, problem_text = 0.0, interval, "pending", ""
                    continue
                if code == "slow_down":
                    interval += SLOW_DOWN_STEP
                    backoff, wait, reason, problem_text = 0.0, interval, "slow_down", ""
                    continue
                if code == "access_denied":
                    yield Denied(self._scrub(_with_server_text(MSG_DENIED, exc)))
                elif code == "expired_token":
                    yield Expired(MSG_EXPIRED_SERVER)
                elif code == "invalid_client":
                    yield InvalidClient(MSG_INVALID_CLIENT)
                else:
                    yield self._failed(exc, "Sign-in failed")
                return
            except RateLimited as exc:
                backoff = self._next_backoff(backoff, interval)
                wait = max(interval, backoff, exc.retry_after or 0.0)
                reason, problem_text = "rate_limited", ""
                continue
            except (Unreachable, ServerError) as exc:  # Timeout is an Unreachable
                backoff = self._next_backoff(backoff, interval)
                wait = max(interval, backoff)
                reason, problem_text = "error", self._scrub(exc.message)
                continue
            except ZenMLError as exc:
                yield self._failed(exc, "Sign-in failed")
                return
            yield Approved(token)
            return

    # ------------------------------------------------------------ helpers

    def _next_backoff(self, backoff: float, interval: float) -> float:
        return min(self._max_backoff, backoff * 2 if backoff else interval * 2)

    def _wait_message(self, reason: WaitReason, problem: str, wait: float | None) -> str:
        later = f"trying again in {wait:.0f} s" if wait is not None else "the link expires before the next try"
        if reason == "pending":
            return MSG_PENDING
        if reason == "slow_down":
            return f"The server asked to poll less often; {later}."
        if reason == "rate_limited":
            return f"The server is rate limiting sign-in requests; {later}."
        return f"{problem} Still waiting for approval; {later}." if problem else f"Poll failed; {later}."

    def _failed(self, exc: ZenMLError, prefix: str | None) -> Failed:
        _scrub_error(exc, self._device_code)
        message = f"{prefix}: {exc.message}" if prefix else exc.message
        return Failed(exc, self._scrub(message))

    def _scrub(self, text: str) -> str:
        return _scrub_text(text, self._device_code)

    def _check_cancel(self) -> None:
        if self._cancelled:
            raise _UserCancelled

    async def _wait_until(self, when: float) -> None:
        while True:
            remaining = when - self._clock()
            if remaining <= 0:
                return
            before = self._clock()
            await self._race(self._sleep(remaining))
            if self._clock() == before:
                return  # a sleep that does not move this clock: trust it rather than spin

    async def _race(self, awaitable: Awaitable[Any]) -> Any:
        """Await ``awaitable`` unless :meth:`cancel` comes first; then abandon it and raise ``_UserCancelled``."""
        if self._cancelled:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise _UserCancelled
        assert self._cancel_event is not None
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._cancel_event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
        if self._cancelled:
            await asyncio.gather(task, return_exceptions=True)  # let it finish cancelling; drop its result
            raise _UserCancelled
        return task.result()


def _check_authorization(auth: DeviceAuthorization) -> str | None:
    """Why the server's answer cannot be used, or ``None``."""
    expires_in = auth.expires_in
    if not (0 < expires_in <= MAX_EXPIRES_IN):
        return f"The server sent a sign-in request that expires in {expires_in} s; this app needs 1 s to 1 day."
    if auth.interval is not None and not (0 < auth.interval <= MAX_INTERVAL):
        return (
            f"The server asked to poll every {auth.interval} s; this app accepts a polling interval "
            f"of 1 to {MAX_INTERVAL:.0f} s."
        )
    interval = auth.interval if auth.interval is not None else DEFAULT_INTERVAL
    if interval >= expires_in:
        return (
            f"The server's polling interval ({interval} s) is not shorter than the sign-in request's "
            f"lifetime ({expires_in} s), so it could never be checked."
        )
    return None


def _with_server_text(base: str, exc: OAuthError) -> str:
    return f"{base} The server said: {exc.description}" if exc.description else base


def _scrub_text(text: str, secret: Secret | None) -> str:
    if secret is None or not text:
        return text
    value = secret.reveal()
    return text.replace(value, "***") if value else text


def _scrub_error(exc: ZenMLError, secret: Secret | None) -> None:
    """Remove the device code from an error a server may have echoed it into."""
    if secret is None or not secret.reveal():
        return
    for name in ("message", "detail", "description"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            setattr(exc, name, _scrub_text(value, secret))
    exc.args = tuple(_scrub_text(a, secret) if isinstance(a, str) else a for a in exc.args)
