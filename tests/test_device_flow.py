"""The RFC 8628 login state machine, driven by a fake client and a fake clock.

The fake ``sleep`` advances the fake clock, so every test runs in no real time and
asserts on the clock readings the flow saw, never on durations.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from zenml_devices_tui.core.device_flow import (
    Approved,
    Cancelled,
    DeviceLogin,
    Denied,
    Expired,
    Failed,
    InvalidClient,
    LoginEvent,
    Started,
    Waiting,
)
from zenml_devices_tui.core.errors import (
    BadResponse,
    DeviceAuthNotSupported,
    NotAuthenticated,
    OAuthError,
    RateLimited,
    RequestRejected,
    ServerError,
    Timeout,
    Unreachable,
    ZenMLError,
)
from zenml_devices_tui.core.models import DeviceAuthorization, TokenResponse
from zenml_devices_tui.core.secret import Secret

BASE = "http://127.0.0.1:8237"
CLIENT_ID = "0b5cd299-2f6e-4d53-9a3c-0e8f1c7d2a11"
USER_AGENT = "Host/box ZenML/unknown Python/3.11.7 OS/Linux"
DEVICE_ID = "32112074-6bcb-42c0-9e83-162f9a6b470d"
DEVICE_CODE = "f25d78101ae885e57404f9ecfe14b9604aa42b749c4a27aab176ca7e68a8e6cc"
USER_CODE = "edc6b60912983b363ad5f0b35deb7ada"
T0 = 1000.0


def authorization(
    *,
    interval: Any = 5,
    expires_in: Any = 300,
    uri: str = "/devices/verify",
    complete: str | None = f"/devices/verify?device_id={DEVICE_ID}&user_code={USER_CODE}",
) -> DeviceAuthorization:
    return DeviceAuthorization(
        device_code=Secret(DEVICE_CODE),
        user_code=USER_CODE,
        verification_uri=uri,
        verification_uri_complete=complete,
        expires_in=expires_in,
        interval=interval,
    )


def token() -> TokenResponse:
    return TokenResponse(access_token=Secret("the.jwt.token"), token_type="bearer", expires_in=None)


def pending() -> OAuthError:
    return OAuthError("authorization_pending", f"Authentication error: device with client ID {CLIENT_ID} is pending.")


class Clock:
    """A monotonic clock whose sleep moves time forward at once."""

    def __init__(self, start: float = T0) -> None:
        self.t = start
        self.sleeps: list[tuple[float, float]] = []  # (start, end) of every sleep

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        begin = self.t
        self.t += max(0.0, seconds)
        self.sleeps.append((begin, self.t))
        await asyncio.sleep(0)


class FakeClient:
    """Answers polls from a script; once it runs out, says ``authorization_pending`` like the real server."""

    base_url = BASE

    def __init__(
        self,
        clock: Clock,
        answers: list[Any] | None = None,
        auth: DeviceAuthorization | Exception | None = None,
        start_takes: float = 0.0,
    ) -> None:
        self.clock = clock
        self.answers = list(answers or [])
        self.auth = auth if auth is not None else authorization()
        self.start_takes = start_takes
        self.start_calls: list[tuple[str, str]] = []
        self.poll_times: list[float] = []
        self.poll_args: list[tuple[str, Any]] = []

    async def start_device_authorization(self, client_id: str, user_agent: str) -> DeviceAuthorization:
        self.start_calls.append((client_id, user_agent))
        self.clock.t += self.start_takes
        if isinstance(self.auth, Exception):
            raise self.auth
        return self.auth

    async def poll_device_token(self, client_id: str, device_code: Secret) -> TokenResponse:
        self.poll_times.append(self.clock())
        self.poll_args.append((client_id, device_code))
        answer = self.answers.pop(0) if self.answers else pending()
        if isinstance(answer, BaseException):
            raise answer
        return answer


def make(clock: Clock, client: FakeClient, **kw: Any) -> DeviceLogin:
    return DeviceLogin(client, CLIENT_ID, USER_AGENT, clock=clock, sleep=clock.sleep, **kw)


async def collect(login: DeviceLogin) -> list[LoginEvent]:
    return [event async for event in login.events()]


def gaps(times: list[float], start: float = T0) -> list[float]:
    out, last = [], start
    for t in times:
        out.append(t - last)
        last = t
    return out


def assert_one_terminal_last(events: list[LoginEvent]) -> None:
    terminal = [e for e in events if e.terminal]
    assert len(terminal) == 1
    assert events[-1] is terminal[0]


# ------------------------------------------------------------------ start


async def test_start_is_called_once_with_client_id_and_user_agent() -> None:
    clock = Clock()
    client = FakeClient(clock, [token()])
    events = await collect(make(clock, client))
    assert client.start_calls == [(CLIENT_ID, USER_AGENT)]
    assert isinstance(events[0], Started)
    assert isinstance(events[-1], Approved)
    assert_one_terminal_last(events)


async def test_started_has_absolute_link_device_id_user_code_and_deadline() -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], auth=authorization(expires_in=300, interval=7))
    events = await collect(make(clock, client))
    started = events[0]
    assert isinstance(started, Started)
    assert started.link.url == f"{BASE}/devices/verify?device_id={DEVICE_ID}&user_code={USER_CODE}"
    assert started.link.device_id == DEVICE_ID
    assert started.user_code == USER_CODE
    assert started.expires_at == T0 + 300
    assert started.interval == 7


async def test_deadline_counts_from_before_the_start_request() -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], start_takes=3.0)
    events = await collect(make(clock, client))
    assert events[0].expires_at == T0 + 300  # not T0 + 3 + 300: never later than the server's own deadline


async def test_doubled_slash_in_an_absolute_link_is_repaired() -> None:
    clock = Clock()
    link = f"{BASE}//devices/verify?device_id={DEVICE_ID}&user_code={USER_CODE}"
    client = FakeClient(clock, [token()], auth=authorization(complete=link))
    started = (await collect(make(clock, client)))[0]
    assert started.link.url == f"{BASE}/devices/verify?device_id={DEVICE_ID}&user_code={USER_CODE}"


async def test_verification_uri_is_used_when_complete_is_missing() -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], auth=authorization(complete=None))
    started = (await collect(make(clock, client)))[0]
    assert started.link.url == f"{BASE}/devices/verify"
    assert started.link.device_id is None


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "file:///etc/passwd", "ftp://example.com/x"])
async def test_a_non_http_link_fails_and_nothing_is_polled(bad: str) -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], auth=authorization(complete=bad, uri=bad))
    events = await collect(make(clock, client))
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert isinstance(events[0].error, BadResponse)
    assert client.poll_times == []


@pytest.mark.parametrize(
    "error",
    [DeviceAuthNotSupported(status=403), Unreachable("Cannot reach it."), RequestRejected("no"), BadResponse()],
)
async def test_a_failed_start_ends_with_failed(error: ZenMLError) -> None:
    clock = Clock()
    client = FakeClient(clock, auth=error)
    events = await collect(make(clock, client))
    assert len(events) == 1
    assert isinstance(events[0], Failed)
    assert events[0].error is error
    assert error.message in events[0].message
    assert client.poll_times == []


# ------------------------------------------------------------------ validation


async def test_missing_interval_means_five_seconds() -> None:
    clock = Clock()
    client = FakeClient(clock, [pending(), token()], auth=authorization(interval=None))
    events = await collect(make(clock, client))
    assert events[0].interval == 5
    assert gaps(client.poll_times) == [5, 5]


@pytest.mark.parametrize("interval", [0, -1, 301, 10_000])
async def test_an_absurd_interval_is_refused(interval: int) -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], auth=authorization(interval=interval, expires_in=900))
    events = await collect(make(clock, client))
    assert [type(e) for e in events] == [Failed]
    assert "interval" in events[0].message
    assert client.poll_times == []


async def test_the_largest_allowed_interval_is_accepted() -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], auth=authorization(interval=300, expires_in=900))
    events = await collect(make(clock, client))
    assert isinstance(events[-1], Approved)
    assert client.poll_times == [T0 + 300]


async def test_an_interval_as_long_as_the_lifetime_is_refused() -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], auth=authorization(interval=60, expires_in=60))
    events = await collect(make(clock, client))
    assert [type(e) for e in events] == [Failed]
    assert client.poll_times == []


@pytest.mark.parametrize("expires_in", [0, -5, 86_401, 10**9])
async def test_an_absurd_lifetime_is_refused(expires_in: int) -> None:
    clock = Clock()
    client = FakeClient(clock, [token()], auth=authorization(expires_in=expires_in))
    events = await collect(make(clock, client))
    assert [type(e) for e in events] == [Failed]
    assert "expir" in events[0].message.lower()
    assert client.poll_times == []


# ------------------------------------------------------------------ polling pace


async def test_polls_at_the_interval_until_approved() -> None:
    clock = Clock()
    client = FakeClient(clock, [pending(), pending(), token()])
    events = await collect(make(clock, client))
    assert client.poll_times == [T0 + 5, T0 + 10, T0 + 15]
    assert [type(e) for e in events] == [Started, Waiting, Waiting, Waiting, Approved]
    waits = [e for e in events if isinstance(e, Waiting)]
    assert [w.next_poll_at for w in waits] == client.poll_times
    assert all(w.reason == "pending" and w.interval == 5 for w in waits)
    assert events[-1].token == token()
    assert client.poll_args[0][0] == CLIENT_ID
    assert isinstance(client.poll_args[0][1], Secret)
    assert client.poll_args[0][1].reveal() == DEVICE_CODE


async def test_slow_down_adds_five_seconds_to_every_later_poll() -> None:
    clock = Clock()
    answers = [OAuthError("slow_down"), pending(), OAuthError("slow_down"), pending(), token()]
    client = FakeClient(clock, answers)
    events = await collect(make(clock, client))
    assert gaps(client.poll_times) == [5, 10, 10, 15, 15]
    waits = [e for e in events if isinstance(e, Waiting)]
    assert [w.reason for w in waits] == ["pending", "slow_down", "pending", "slow_down", "pending"]
    assert [w.interval for w in waits] == [5, 10, 10, 15, 15]
    assert isinstance(events[-1], Approved)


async def test_rate_limit_backs_off_doubling_and_resets_after_a_normal_answer() -> None:
    clock = Clock()
    answers = [RateLimited(), RateLimited(), RateLimited(), pending(), RateLimited(), token()]
    client = FakeClient(clock, answers, auth=authorization(expires_in=900))
    events = await collect(make(clock, client))
    assert gaps(client.poll_times) == [5, 10, 20, 40, 5, 10]
    waits = [e for e in events if isinstance(e, Waiting)]
    assert [w.reason for w in waits] == ["pending", "rate_limited", "rate_limited", "rate_limited", "pending",
                                         "rate_limited"]
    assert all(w.interval == 5 for w in waits)  # back-off does not change the polling interval itself
    assert isinstance(events[-1], Approved)


async def test_back_off_is_capped_at_max_backoff() -> None:
    clock = Clock()
    client = FakeClient(clock, [RateLimited()] * 5 + [token()], auth=authorization(expires_in=900))
    await collect(make(clock, client, max_backoff=30))
    assert gaps(client.poll_times) == [5, 10, 20, 30, 30, 30]


async def test_retry_after_wins_when_longer_than_the_back_off() -> None:
    clock = Clock()
    client = FakeClient(clock, [RateLimited(retry_after=50), RateLimited(retry_after=3), token()],
                        auth=authorization(expires_in=900))
    events = await collect(make(clock, client))
    assert gaps(client.poll_times) == [5, 50, 20]
    assert isinstance(events[-1], Approved)


@pytest.mark.parametrize("error", [Unreachable("Cannot reach it."), Timeout(), ServerError(status=502)])
async def test_transport_errors_and_5xx_back_off_and_continue(error: ZenMLError) -> None:
    clock = Clock()
    client = FakeClient(clock, [error, error, pending(), error, token()], auth=authorization(expires_in=900))
    events = await collect(make(clock, client))
    assert gaps(client.poll_times) == [5, 10, 20, 5, 10]
    waits = [e for e in events if isinstance(e, Waiting)]
    assert [w.reason for w in waits] == ["pending", "error", "error", "pending", "error"]
    assert error.message in waits[1].message
    assert [w.problem for w in waits] == [None, error.message, error.message, None, error.message]
    assert isinstance(events[-1], Approved)


async def test_back_off_never_goes_below_the_interval() -> None:
    clock = Clock()
    client = FakeClient(clock, [ServerError(), token()], auth=authorization(interval=20, expires_in=900))
    await collect(make(clock, client, max_backoff=10))
    assert gaps(client.poll_times) == [20, 20]


@pytest.mark.parametrize("seed", range(12))
async def test_never_two_polls_closer_than_the_current_interval(seed: int) -> None:
    rng = random.Random(seed)
    choices = [pending, lambda: OAuthError("slow_down"), RateLimited, lambda: RateLimited(retry_after=rng.random() * 9),
               Unreachable, ServerError]
    answers = [rng.choice(choices)() for _ in range(40)] + [token()]
    interval = rng.choice([1, 2, 5])
    clock = Clock()
    client = FakeClient(clock, answers, auth=authorization(interval=interval, expires_in=86_400))
    events = await collect(make(clock, client, max_backoff=rng.choice([5.0, 60.0])))
    assert isinstance(events[-1], Approved)
    current = interval
    last = T0
    for when, answer in zip(client.poll_times, answers):
        assert when - last >= current
        last = when
        if isinstance(answer, OAuthError) and answer.code == "slow_down":
            current += 5
    # each Waiting told the truth about when the next poll happens
    waits = [e for e in events if isinstance(e, Waiting)]
    assert [w.next_poll_at for w in waits] == client.poll_times


# ------------------------------------------------------------------ local deadline


async def test_stops_at_the_local_deadline_though_the_server_keeps_saying_pending() -> None:
    clock = Clock()
    client = FakeClient(clock, auth=authorization(interval=5, expires_in=12))  # pending forever
    events = await collect(make(clock, client))
    assert client.poll_times == [T0 + 5, T0 + 10]
    assert isinstance(events[-1], Expired)
    assert clock() == T0 + 12  # the last wait was shortened to end at the deadline, not at T0 + 15
    assert all(end <= T0 + 12 for _, end in clock.sleeps)
    last_wait = [e for e in events if isinstance(e, Waiting)][-1]
    assert last_wait.next_poll_at == T0 + 12
    assert_one_terminal_last(events)


async def test_no_poll_at_the_deadline_itself() -> None:
    clock = Clock()
    client = FakeClient(clock, auth=authorization(interval=5, expires_in=10))
    events = await collect(make(clock, client))
    assert client.poll_times == [T0 + 5]
    assert isinstance(events[-1], Expired)
    assert clock() == T0 + 10


async def test_a_long_back_off_is_cut_at_the_deadline() -> None:
    clock = Clock()
    client = FakeClient(clock, [RateLimited(retry_after=100)], auth=authorization(interval=5, expires_in=30))
    events = await collect(make(clock, client))
    assert client.poll_times == [T0 + 5]
    assert isinstance(events[-1], Expired)
    assert clock() == T0 + 30


async def test_a_slow_poll_answer_past_the_deadline_expires_without_another_wait() -> None:
    clock = Clock()

    class Slow(FakeClient):
        async def poll_device_token(self, client_id: str, device_code: Secret) -> TokenResponse:
            self.clock.t += 20  # the request itself takes 20 s
            return await super().poll_device_token(client_id, device_code)

    client = Slow(clock, auth=authorization(interval=5, expires_in=12))
    events = await collect(make(clock, client))
    assert len(client.poll_times) == 1
    assert isinstance(events[-1], Expired)
    assert not isinstance(events[-2], Waiting) or events[-2].next_poll_at <= T0 + 12


# ------------------------------------------------------------------ outcomes


@pytest.mark.parametrize(
    "answer, kind",
    [
        (OAuthError("access_denied", "device with client ID x is locked."), Denied),
        (OAuthError("expired_token", "device with client ID x is active."), Expired),
        (OAuthError("invalid_client", "error retrieving device with client ID x"), InvalidClient),
        (OAuthError("unsupported_grant_type"), Failed),
        (OAuthError("invalid_request"), Failed),
        (NotAuthenticated(status=401), Failed),
        (BadResponse(), Failed),
        (RequestRejected("The server refused the request: bad form", status=400), Failed),
        (DeviceAuthNotSupported(status=403), Failed),
    ],
)
async def test_terminal_outcomes(answer: ZenMLError, kind: type) -> None:
    clock = Clock()
    client = FakeClient(clock, [pending(), answer, token()])
    events = await collect(make(clock, client))
    assert isinstance(events[-1], kind)
    assert len(client.poll_times) == 2  # nothing polled after the terminal answer
    assert_one_terminal_last(events)
    assert events[-1].message
    if kind is Failed:
        assert events[-1].error is answer


async def test_denied_says_what_the_server_said() -> None:
    clock = Clock()
    answer = OAuthError("access_denied", "device has been locked due to too many failed authentication attempts.")
    events = await collect(make(clock, FakeClient(clock, [answer])))
    assert "too many failed" in events[-1].message


async def test_events_is_single_use() -> None:
    clock = Clock()
    login = make(clock, FakeClient(clock, [token()]))
    await collect(login)
    with pytest.raises(RuntimeError):
        await collect(login)


# ------------------------------------------------------------------ cancel


async def test_cancel_before_start_yields_only_cancelled() -> None:
    clock = Clock()
    client = FakeClient(clock, [token()])
    login = make(clock, client)
    login.cancel()
    events = await collect(login)
    assert [type(e) for e in events] == [Cancelled]
    assert client.start_calls == []


async def test_cancel_from_an_event_handler_stops_before_the_next_poll() -> None:
    clock = Clock()
    client = FakeClient(clock)
    login = make(clock, client)
    events = []
    async for event in login.events():
        events.append(event)
        if isinstance(event, Waiting) and len(client.poll_times) == 2:
            login.cancel()
    assert isinstance(events[-1], Cancelled)
    assert len(client.poll_times) == 2
    assert_one_terminal_last(events)


async def test_cancel_while_handling_started_yields_nothing_else() -> None:
    clock = Clock()
    client = FakeClient(clock)
    login = make(clock, client)
    events = []
    async for event in login.events():
        events.append(event)
        login.cancel()
    assert [type(e) for e in events] == [Started, Cancelled]
    assert client.poll_times == []


class BlockingSleep:
    """A sleep that never ends by itself, so cancel() has to interrupt it."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.interrupted = 0

    async def __call__(self, seconds: float) -> None:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.interrupted += 1
            raise


async def test_cancel_during_a_sleep_ends_the_flow_at_once() -> None:
    clock = Clock()
    client = FakeClient(clock)
    sleep = BlockingSleep()
    login = DeviceLogin(client, CLIENT_ID, USER_AGENT, clock=clock, sleep=sleep)
    task = asyncio.create_task(collect(login))
    await sleep.entered.wait()
    login.cancel()
    events = await asyncio.wait_for(task, timeout=5)
    assert [type(e) for e in events] == [Started, Waiting, Cancelled]
    assert client.poll_times == []
    assert sleep.interrupted == 1


async def test_cancel_during_a_poll_ends_the_flow_and_drops_the_request() -> None:
    clock = Clock()
    entered = asyncio.Event()
    aborted = []

    class Hanging(FakeClient):
        async def poll_device_token(self, client_id: str, device_code: Secret) -> TokenResponse:
            self.poll_times.append(self.clock())
            entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                aborted.append(True)
                raise
            raise AssertionError("unreachable")

    client = Hanging(clock)
    login = make(clock, client)
    task = asyncio.create_task(collect(login))
    await entered.wait()
    login.cancel()
    events = await asyncio.wait_for(task, timeout=5)
    assert isinstance(events[-1], Cancelled)
    assert len(client.poll_times) == 1
    assert aborted == [True]
    assert_one_terminal_last(events)


async def test_cancel_during_start() -> None:
    clock = Clock()
    entered = asyncio.Event()

    class Hanging(FakeClient):
        async def start_device_authorization(self, client_id: str, user_agent: str) -> DeviceAuthorization:
            entered.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    client = Hanging(clock)
    login = make(clock, client)
    task = asyncio.create_task(collect(login))
    await entered.wait()
    login.cancel()
    events = await asyncio.wait_for(task, timeout=5)
    assert [type(e) for e in events] == [Cancelled]
    assert client.poll_times == []


async def test_cancel_after_the_end_changes_nothing() -> None:
    clock = Clock()
    login = make(clock, FakeClient(clock, [token()]))
    events = await collect(login)
    login.cancel()
    assert isinstance(events[-1], Approved)


# ------------------------------------------------------------------ the device code stays secret


def _every_flow() -> list[list[Any]]:
    return [
        [token()],
        [OAuthError("access_denied")],
        [OAuthError("expired_token")],
        [OAuthError("invalid_client")],
        [OAuthError("weird_error", "odd")],
        [RateLimited(), Unreachable(), ServerError(), OAuthError("slow_down"), NotAuthenticated()],
        [BadResponse()],
    ]


@pytest.mark.parametrize("answers", _every_flow())
async def test_the_device_code_never_shows_in_events_or_errors(answers: list[Any]) -> None:
    clock = Clock()
    events = await collect(make(clock, FakeClient(clock, answers)))
    for event in events:
        assert DEVICE_CODE not in repr(event)
        assert DEVICE_CODE not in str(event)
        if isinstance(event, Failed):
            assert DEVICE_CODE not in str(event.error)
            assert DEVICE_CODE not in repr(event.error)


@pytest.mark.parametrize(
    "error",
    [
        RequestRejected(f"The server refused the request: bad code {DEVICE_CODE}", detail=f"bad code {DEVICE_CODE}"),
        OAuthError("invalid_grant", f"device code {DEVICE_CODE} is wrong"),
        OAuthError("access_denied", f"device code {DEVICE_CODE} is wrong"),
        Unreachable(f"echo {DEVICE_CODE}"),
    ],
)
async def test_a_server_echoing_the_device_code_does_not_leak_it(error: ZenMLError) -> None:
    clock = Clock()
    events = await collect(make(clock, FakeClient(clock, [error, token()])))
    for event in events:
        assert DEVICE_CODE not in repr(event)
        if isinstance(event, Failed):
            assert DEVICE_CODE not in str(event.error)
            assert DEVICE_CODE not in repr(event.error)
            assert DEVICE_CODE not in (event.error.detail or "")


async def test_the_login_object_does_not_show_the_device_code() -> None:
    clock = Clock()
    login = make(clock, FakeClient(clock, [pending(), token()]))
    async for _ in login.events():
        assert DEVICE_CODE not in repr(login)
        assert DEVICE_CODE not in repr(vars(login))
