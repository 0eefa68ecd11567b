"""Property-based tests: whatever a server sends, the parsers answer or refuse in words, never crash.

* ``models.*.from_json`` take any JSON value and return a model or raise ``BadResponse``;
  every string in a model is free of control characters.
* ``errors.parse_error_body`` / ``error_for_status`` take any JSON body and any status and
  give a typed error with a one-line, clean message.
* ``urls.normalize_server_url`` and ``urls.verification_link`` accept only http(s) with a
  host, are idempotent, and never let a control character or a space through.
* ``text.clean`` / ``clean_line`` remove every control character, so no escape sequence
  from a server can reach the terminal.
* The device-flow state machine, fed random sequences of poll outcomes, always ends in
  exactly one terminal event, never polls faster than the interval and never polls at or
  after the deadline.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import fields
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zenml_devices_tui.core import device_flow as flow
from zenml_devices_tui.core.errors import (
    BadConfiguration,
    BadResponse,
    NotAuthenticated,
    NotFound,
    OAuthError,
    RateLimited,
    ServerError,
    Timeout,
    Unreachable,
    ZenMLError,
    error_for_status,
    parse_error_body,
    parse_retry_after,
)
from zenml_devices_tui.core.models import (
    Device,
    DeviceAuthorization,
    Page,
    ServerInfo,
    TokenResponse,
    User,
)
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.text import clean, clean_line
from zenml_devices_tui.core.urls import normalize_server_url, verification_link
from tests.faults import HOSTILE_STRINGS, UNSAFE_CHARS, has_unsafe

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

#: Text biased towards what a hostile server would send: escapes, markup, controls, bidi.
hostile_text = st.one_of(
    st.text(),
    st.sampled_from(HOSTILE_STRINGS),
    st.lists(st.sampled_from(HOSTILE_STRINGS + ["a", " ", "[", "]", "\x1b", "\n"]), max_size=6).map("".join),
    st.text(alphabet=st.sampled_from(list(UNSAFE_CHARS) + list("ab[]/=;:\\"))),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), hostile_text), children, max_size=4),
    ),
    max_leaves=12,
)

VALID_DEVICE: dict[str, Any] = {
    "id": "32112074-6bcb-42c0-9e83-162f9a6b470d",
    "permission_denied": False,
    "body": {
        "created": "2026-12-03T15:53:10.894463",
        "updated": "2026-12-03T15:53:35.173574",
        "user_id": "51988c8d-0000-4000-8000-000000000001",
        "client_id": "0b5cd299-0000-4000-8000-000000000002",
        "expires": None,
        "trusted_device": True,
        "status": "active",
        "os": "Linux",
        "ip_address": "127.0.0.1",
        "hostname": "myhost",
    },
    "metadata": {
        "python_version": "3.11.7",
        "zenml_version": "0.98.0",
        "city": "",
        "region": "",
        "country": "",
        "failed_auth_attempts": 0,
        "last_login": "2026-12-03T15:53:35.173574",
    },
    "resources": {"user": {"id": "51988c8d-0000-4000-8000-000000000001", "name": "default", "body": {}}},
}

DEVICE_PATHS = [("id",), ("body",), ("metadata",), ("resources",), ("resources", "user")] + [
    (section, key) for section in ("body", "metadata") for key in VALID_DEVICE[section]
] + [("resources", "user", "name")]


@st.composite
def mutated_device(draw: st.DrawFn) -> dict[str, Any]:
    """A valid device with some fields removed, nulled or replaced by hostile values."""
    data = json.loads(json.dumps(VALID_DEVICE))
    for path in draw(st.lists(st.sampled_from(DEVICE_PATHS), max_size=6, unique=True)):
        parent = data
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        how = draw(st.sampled_from(["remove", "null", "replace", "hostile"]))
        if how == "remove":
            parent.pop(path[-1], None)
        elif how == "null":
            parent[path[-1]] = None
        elif how == "replace":
            parent[path[-1]] = draw(json_values)
        else:
            parent[path[-1]] = draw(hostile_text)
    return data


def _strings_of(model: Any) -> list[str]:
    out = []
    for f in fields(model):
        value = getattr(model, f.name)
        if isinstance(value, str):
            out.append(value)
    return out


def _roundtrip(value: Any) -> Any:
    """What ``json.loads`` would hand the parser for this value (NaN and Infinity included)."""
    return json.loads(json.dumps(value))


# --------------------------------------------------------------------------- text


@SETTINGS
@given(st.one_of(hostile_text, json_scalars))
def test_clean_removes_every_control_character(value: Any) -> None:
    out = clean(value)
    assert isinstance(out, str)
    assert not has_unsafe(out), repr(out)
    assert "\x1b" not in out and "\x9b" not in out and "\x9d" not in out
    # Everything that is safe survives: cleaning is removal, never rewriting.
    if isinstance(value, str):
        assert out == "".join(ch for ch in value if ch not in UNSAFE_CHARS and not has_unsafe(ch))


@SETTINGS
@given(hostile_text, st.integers(min_value=2, max_value=400))
def test_clean_line_is_one_clean_line_within_the_limit(value: str, limit: int) -> None:
    out = clean_line(value, limit=limit)
    assert "\n" not in out and "\r" not in out
    assert not has_unsafe(out)
    assert len(out) <= limit
    assert out == out.strip()


# --------------------------------------------------------------------------- models


MODELS = [Device, ServerInfo, User, Page, DeviceAuthorization, TokenResponse]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@SETTINGS
@given(value=json_values)
def test_model_parsers_take_any_json(model: type, value: Any) -> None:
    try:
        parsed = model.from_json(_roundtrip(value))
    except BadResponse as exc:
        assert exc.message and "\n" not in exc.message and not has_unsafe(exc.message)
        return
    for text in _strings_of(parsed):
        assert not has_unsafe(text), (model.__name__, text)


@SETTINGS
@given(mutated_device())
@example(dict(VALID_DEVICE, body=None))
@example(dict(VALID_DEVICE, metadata=None, resources=None))
@example({**VALID_DEVICE, "body": {**VALID_DEVICE["body"], "hostname": None, "os": None, "ip_address": None}})
def test_device_with_missing_null_or_hostile_fields(data: dict[str, Any]) -> None:
    data = _roundtrip(data)
    try:
        device = Device.from_json(data)
    except BadResponse as exc:
        # Only the id and the status are required; anything else missing or odd is tolerated.
        assert "id" in exc.message or "status" in exc.message, exc.message
        return
    assert device.id == "32112074-6bcb-42c0-9e83-162f9a6b470d"
    for text in _strings_of(device):
        assert not has_unsafe(text)
    for when in (device.created, device.updated, device.expires, device.last_login):
        assert when is None or (isinstance(when, datetime) and when.tzinfo is not None)
    assert device.failed_auth_attempts is None or isinstance(device.failed_auth_attempts, int)
    # What the table calls on every row must not raise either.
    now = datetime.fromisoformat("2026-12-03T16:00:00+00:00")
    assert isinstance(device.display_status(now), str)
    assert isinstance(device.location, str)


@SETTINGS
@given(
    total_pages=st.one_of(json_scalars, st.integers(min_value=-(10**9), max_value=10**9)),
    total=st.one_of(json_scalars, st.integers(min_value=-(10**9), max_value=10**9)),
    n_items=st.integers(min_value=0, max_value=5),
)
def test_page_envelope_numbers_are_sane_whatever_they_claim(total_pages: Any, total: Any, n_items: int) -> None:
    page = Page.from_json(_roundtrip({"index": 1, "max_size": 20, "total_pages": total_pages, "total": total,
                                      "items": [{}] * n_items}))
    assert page.total_pages >= 1
    assert page.total >= 0
    assert len(page.items) == n_items


@SETTINGS
@given(
    interval=st.one_of(json_scalars, st.integers(min_value=-(10**12), max_value=10**12)),
    expires_in=st.one_of(json_scalars, st.integers(min_value=-(10**12), max_value=10**12)),
)
def test_device_authorization_numbers_parse_or_are_refused(interval: Any, expires_in: Any) -> None:
    data = {"device_code": "d" * 64, "user_code": "u" * 32, "verification_uri": "/devices/verify",
            "verification_uri_complete": "/devices/verify?device_id=x&user_code=y",
            "interval": interval, "expires_in": expires_in}
    try:
        auth = DeviceAuthorization.from_json(_roundtrip(data))
    except BadResponse as exc:
        assert "device code" not in exc.message.lower() or "d" * 64 not in exc.message
        return
    assert isinstance(auth.expires_in, int)
    assert auth.interval is None or isinstance(auth.interval, int)
    assert "d" * 64 not in repr(auth)  # the device code stays a Secret


# --------------------------------------------------------------------------- errors


@SETTINGS
@given(json_values)
def test_parse_error_body_takes_any_json(body: Any) -> None:
    parsed = parse_error_body(_roundtrip(body))
    assert parsed.message is None or isinstance(parsed.message, str)
    assert parsed.error_class is None or isinstance(parsed.error_class, str)


@SETTINGS
@given(
    status=st.integers(min_value=300, max_value=599),
    body=st.one_of(json_values, hostile_text.map(lambda s: s[:300])),
    retry_after=st.one_of(st.none(), hostile_text, st.integers().map(str), st.floats().map(str),
                          st.just("Wed, 21 Oct 2015 07:28:00 GMT"), st.just("Fri, 31 Dec 9999 23:59:59 GMT")),
)
def test_error_for_status_gives_one_clean_line(status: int, body: Any, retry_after: str | None) -> None:
    error = error_for_status(status, body, retry_after=retry_after)
    assert isinstance(error, ZenMLError)
    for text in (error.message, error.detail or "", error.error_class or "", str(error)):
        assert "\n" not in text and not has_unsafe(text), repr(text)
    assert 0 < len(error.message) <= 300
    if status == 401 and not isinstance(error, OAuthError):
        assert isinstance(error, NotAuthenticated)
    if status == 404 and not isinstance(error, OAuthError):
        assert isinstance(error, NotFound)
    if status >= 500 and not isinstance(error, OAuthError):
        assert isinstance(error, ServerError)
    if isinstance(error, RateLimited) and error.retry_after is not None:
        assert 0.0 <= error.retry_after <= 3600.0 and math.isfinite(error.retry_after)


@SETTINGS
@given(st.one_of(st.none(), hostile_text, st.floats().map(str), st.integers().map(str)))
def test_retry_after_is_bounded(value: str | None) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (0.0 <= seconds <= 3600.0 and math.isfinite(seconds))


# --------------------------------------------------------------------------- URLs

url_like = st.one_of(
    hostile_text,
    st.builds(
        lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
        st.sampled_from(["", "http://", "https://", "HTTP://", "javascript:", "file://", "ftp://", "//", "data:"]),
        st.one_of(st.sampled_from(["localhost", "127.0.0.1", "[::1]", "zenml.example.com", "a@b", "ex ample",
                                   "xn--e1afmkfd", "ЗЕНМЛ.рф", ""]), hostile_text),
        st.sampled_from(["", ":8237", ":0", ":99999", ":abc", ":"]),
        st.one_of(st.sampled_from(["", "/", "/api/v1", "/zenml//api/v1/", "?q=1#f", "/a b"]), hostile_text),
    ),
)


@SETTINGS
@given(url_like)
def test_normalize_server_url_accepts_only_clean_http_urls(text: str) -> None:
    try:
        url = normalize_server_url(text)
    except BadConfiguration as exc:
        assert exc.message and "\n" not in exc.message and not has_unsafe(exc.message)
        return
    assert re.match(r"^https?://[^/\s]+", url), url
    assert not has_unsafe(url) and not any(ch.isspace() for ch in url)
    assert "?" not in url and "#" not in url and not url.endswith("/")
    assert normalize_server_url(url) == url  # idempotent


@SETTINGS
@given(
    server=st.sampled_from(["http://127.0.0.1:8237", "https://zenml.example.com", "https://zenml.example.com/prefix"]),
    uri=url_like,
    complete=st.one_of(st.none(), url_like),
)
@example("https://zenml.example.com", "/devices/verify", "javascript:alert(1)//https://zenml.example.com/")
@example("https://zenml.example.com", "/devices/verify", "JaVaScRiPt:alert(1)")
@example("https://zenml.example.com", "/devices/verify", "java\tscript:alert(1)")
@example("https://zenml.example.com", "/devices/verify", "\x1b]8;;https://evil\x07https://zenml.example.com/x")
@example("https://zenml.example.com", "/devices/verify", "data:text/html,<script>")
@example("https://zenml.example.com", "/devices/verify", "https://evil.example/devices/verify")
def test_verification_link_is_always_an_http_link_or_refused(server: str, uri: str, complete: str | None) -> None:
    try:
        link = verification_link(server, uri, complete)
    except BadResponse as exc:
        assert exc.message and not has_unsafe(exc.message)
        return
    assert re.match(r"^https?://[^/\s?#]+", link.url), link.url
    assert not has_unsafe(link.url) and not any(ch.isspace() for ch in link.url)
    from urllib.parse import urlsplit

    assert link.host_differs == ((urlsplit(link.url).hostname or "") != (urlsplit(server).hostname or ""))


# --------------------------------------------------------------------------- device-flow state machine

OUTCOMES = [
    "pending", "pending", "pending", "slow_down", "rate_limited", "rate_limited_after", "server_error",
    "unreachable", "timeout", "approved", "access_denied", "expired_token", "invalid_client", "weird_oauth",
    "bad_response",
]
TERMINAL_FOR = {
    "approved": flow.Approved,
    "access_denied": flow.Denied,
    "expired_token": flow.Expired,
    "invalid_client": flow.InvalidClient,
    "weird_oauth": flow.Failed,
    "bad_response": flow.Failed,
}


class SimClock:
    """Monotonic time that moves only when the flow sleeps or a request takes time."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.t += seconds
        await asyncio.sleep(0)


class ScriptedClient:
    base_url = "https://zenml.example.com"

    def __init__(self, clock: SimClock, auth: dict[str, Any], script: list[tuple[str, float, float]]) -> None:
        self.clock = clock
        self.auth = auth
        self.script = list(script)
        self.polls: list[tuple[float, float, str]] = []  # (start, end, outcome)
        self.device_code = auth.get("device_code")

    async def start_device_authorization(self, client_id: str, user_agent: str) -> DeviceAuthorization:
        return DeviceAuthorization.from_json(self.auth)

    async def poll_device_token(self, client_id: str, device_code: Secret) -> TokenResponse:
        assert isinstance(device_code, Secret)
        start = self.clock.t
        outcome, latency, retry_after = self.script.pop(0) if self.script else ("pending", 0.0, 0.0)
        self.clock.t += latency
        self.polls.append((start, self.clock.t, outcome))
        await asyncio.sleep(0)
        if outcome == "approved":
            return TokenResponse.from_json({"access_token": "tok", "token_type": "bearer"})
        if outcome in ("pending", "slow_down", "access_denied", "expired_token", "invalid_client"):
            code = "authorization_pending" if outcome == "pending" else outcome
            raise OAuthError(code, f"{code} for {device_code.reveal()}")
        if outcome == "weird_oauth":
            raise OAuthError("unsupported_grant_type", "nope")
        if outcome == "rate_limited":
            raise RateLimited("slow", retry_after=None)
        if outcome == "rate_limited_after":
            raise RateLimited("slow", retry_after=retry_after)
        if outcome == "server_error":
            raise ServerError(f"boom {device_code.reveal()}")
        if outcome == "unreachable":
            raise Unreachable("down")
        if outcome == "timeout":
            raise Timeout("slow")
        raise BadResponse("garbage")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    interval=st.one_of(st.none(), st.integers(min_value=1, max_value=30)),
    expires_in=st.integers(min_value=2, max_value=600),
    script=st.lists(
        st.tuples(
            st.sampled_from(OUTCOMES),
            st.floats(min_value=0, max_value=40, allow_nan=False),
            st.floats(min_value=0, max_value=120, allow_nan=False),
        ),
        max_size=40,
    ),
    max_backoff=st.sampled_from([10.0, 60.0]),
)
def test_device_flow_random_poll_outcomes(
    interval: int | None, expires_in: int, script: list[tuple[str, float, float]], max_backoff: float
) -> None:
    device_code = "c0de" * 16
    auth = {"device_code": device_code, "user_code": "u" * 32, "verification_uri": "/devices/verify",
            "verification_uri_complete": "/devices/verify?device_id=d&user_code=u", "expires_in": expires_in}
    if interval is not None:
        auth["interval"] = interval
    clock = SimClock()
    client = ScriptedClient(clock, auth, script)
    login = flow.DeviceLogin(client, "client", "ua", clock=clock.monotonic, sleep=clock.sleep,
                             max_backoff=max_backoff)

    async def run() -> list[flow.LoginEvent]:
        return [event async for event in login.events()]

    begun = clock.t
    events = asyncio.run(run())

    terminals = [e for e in events if e.terminal]
    assert len(terminals) == 1 and events[-1] is terminals[0], events
    first_interval = float(interval) if interval is not None else flow.DEFAULT_INTERVAL
    if first_interval >= expires_in:
        # Refused before any poll: a clear message, nothing polled.
        assert isinstance(events[-1], flow.Failed) and not client.polls
        assert "interval" in events[-1].message
        return
    assert isinstance(events[0], flow.Started)
    deadline = begun + expires_in
    assert events[0].expires_at == deadline

    current = first_interval
    previous_end = begun
    for start, end, outcome in client.polls:
        assert start < deadline, "polled at or after the deadline"
        assert start - previous_end >= current - 1e-9, "polled faster than the interval"
        if outcome == "slow_down":
            current += flow.SLOW_DOWN_STEP
        previous_end = end

    # The terminal event is the one the last poll called for, or Expired by the deadline.
    last_outcome = client.polls[-1][2] if client.polls else None
    terminal = events[-1]
    if last_outcome in TERMINAL_FOR:
        assert isinstance(terminal, TERMINAL_FOR[last_outcome]), (last_outcome, terminal)
    else:
        assert isinstance(terminal, flow.Expired), (last_outcome, terminal)
        assert clock.t >= deadline
    # The device code never shows in anything the flow says.
    for event in events:
        assert device_code not in repr(event)
        for name in ("message",):
            assert device_code not in str(getattr(event, name, ""))
        if isinstance(event, flow.Failed):
            assert device_code not in event.error.message and device_code not in str(event.error.args)


@SETTINGS
@given(
    interval=st.one_of(json_scalars, st.integers(min_value=-(10**9), max_value=10**9)),
    expires_in=st.one_of(json_scalars, st.integers(min_value=-(10**9), max_value=10**9)),
    link=st.one_of(url_like, st.none()),
    drop=st.sets(st.sampled_from(["device_code", "user_code", "verification_uri", "expires_in"]), max_size=2),
)
def test_device_flow_refuses_bad_starts_without_polling(
    interval: Any, expires_in: Any, link: str | None, drop: set[str]
) -> None:
    auth: dict[str, Any] = {"device_code": "c" * 64, "user_code": "u" * 32, "verification_uri": "/devices/verify",
                            "verification_uri_complete": link, "expires_in": expires_in, "interval": interval}
    for key in drop:
        auth.pop(key)
    auth = _roundtrip(auth)
    clock = SimClock()

    class Client(ScriptedClient):
        async def start_device_authorization(self, client_id: str, user_agent: str) -> DeviceAuthorization:
            try:
                return DeviceAuthorization.from_json(self.auth)
            except BadResponse as exc:
                raise exc

    client = Client(clock, auth, [("approved", 0.0, 0.0)])
    login = flow.DeviceLogin(client, "client", "ua", clock=clock.monotonic, sleep=clock.sleep)

    async def run() -> list[flow.LoginEvent]:
        return [event async for event in login.events()]

    events = asyncio.run(run())
    assert len([e for e in events if e.terminal]) == 1 and events[-1].terminal
    if isinstance(events[0], flow.Started):
        started = events[0]
        assert started.link.url.startswith(("http://", "https://"))
        assert 0 < started.interval <= flow.MAX_INTERVAL
        assert 0 < started.expires_at - 1000.0 <= flow.MAX_EXPIRES_IN
        assert started.interval < started.expires_at - 1000.0
    else:
        assert isinstance(events[-1], flow.Failed), events
        assert events[-1].message and not has_unsafe(events[-1].message)
        assert client.polls == [], "polled although the start was refused"


@pytest.mark.parametrize("url", ["[", "http://[", "https://[::1", "A://[]", "http://[]:80", "http://\x1b[2Jx"])
def test_cli_refuses_a_broken_url_in_one_line(url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from zenml_devices_tui.cli import main

    monkeypatch.setenv("ZENML_DEVICES_HOME", str(tmp_path))
    monkeypatch.setenv("ZENML_DEVICES_TOKEN_STORE", "memory")
    assert main([url, "--logout"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zenml-devices: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "\x1b" not in err
