"""Faults a fake server can make on demand: each ends in a clear message and a consistent table.

The demo server's ``fail_next``/``disconnect_next`` inject statuses and dropped
connections; a :class:`tests.faults.FaultTransport` around it does what the demo cannot
(timeouts, a reply lost after the server acted, 10 MB bodies, lying page envelopes,
hostile device-flow answers). Time is a FakeClock: nothing sleeps for real, except the
one test that proves the client's own timeout against a socket that never answers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from tests.faults import FaultTransport, big_json_body, wait_until, widget_text
from tests.uihelpers import Harness, make_harness, signed_in_harness
from zenml_devices_tui.core.client import MAX_PAGES, ZenMLClient
from zenml_devices_tui.core.errors import Timeout
from zenml_devices_tui.demo.records import ACTIVE, LOCKED, Device as DemoDevice
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.confirm import ConfirmScreen
from zenml_devices_tui.ui.screens.devices import DevicesScreen
from zenml_devices_tui.ui.screens.login import LoginScreen
from zenml_devices_tui.ui.widgets.device_rows import COLUMN_INDEX

SIZE = (130, 40)
LIST_PATH = "/api/v1/devices"


# --------------------------------------------------------------------------- helpers


def with_faults(harness: Harness) -> FaultTransport:
    """Route the app's client through a FaultTransport around the demo server."""
    faults = FaultTransport(harness.demo.transport)

    def make_client(url: str) -> ZenMLClient:
        client = ZenMLClient(url, transport=faults, user_agent=harness.context.user_agent)
        harness.clients.append(client)
        return client

    harness.context.make_client = make_client
    return faults


def is_list(request: httpx.Request) -> bool:
    return request.method == "GET" and request.url.path == LIST_PATH


def answer(status: int, *, content: bytes = b"", json_body: Any = None, headers: dict[str, str] | None = None,
           when: Callable[[httpx.Request], bool] = is_list) -> Callable[[httpx.Request], httpx.Response | None]:
    def rule(request: httpx.Request) -> httpx.Response | None:
        if not when(request):
            return None
        if json_body is not None:
            return httpx.Response(status, json=json_body, headers=headers)
        return httpx.Response(status, content=content, headers=headers)

    return rule


def raise_(exc_type: type[Exception], when: Callable[[httpx.Request], bool] = is_list):
    def rule(request: httpx.Request) -> None:
        if when(request):
            raise exc_type("injected", request=request)
        return None

    return rule


def rewrite_list(harness: Harness, change: Callable[[dict[str, Any]], Any], *, always_page_one: bool = False):
    """Answer list requests with the demo's own answer, changed by ``change`` (which edits the page in place)."""

    def rule(request: httpx.Request) -> httpx.Response | None:
        if not is_list(request):
            return None
        if always_page_one:
            request = httpx.Request(request.method, request.url.copy_set_param("page", "1"), headers=request.headers)
        response = harness.demo.handle(request)
        page = json.loads(response.read())
        result = change(page)
        body = json.dumps(page if result is None else result, allow_nan=True).encode()
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return rule


async def loaded(pilot: Any) -> DevicesScreen:
    app = pilot.app
    await wait_until(lambda: isinstance(app.screen, DevicesScreen) and app.screen.loaded, "the first load",
                     pilot=pilot)
    assert app.screen.connection == "live"
    return app.screen


async def next_refresh(pilot: Any, harness: Harness, screen: DevicesScreen, seconds: float | None = None) -> None:
    count = screen.refresh_count
    harness.clock.advance(seconds if seconds is not None else harness.context.refresh_interval)
    await wait_until(lambda: screen.refresh_count > count or not screen.is_attached, "a refresh", pilot=pilot)
    await pilot.pause()


def server_rows(harness: Harness) -> set[str]:
    return {k for k, d in harness.demo.devices.items() if d.user_id == harness.demo.user_id}


def notes(app: DevicesApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def healthy(app: DevicesApp) -> None:
    assert app.is_running and not app._exit_renderables


def pick(harness: Harness, screen: DevicesScreen, status: str = ACTIVE) -> DemoDevice:
    this = screen.this_device_id
    return next(d for k, d in sorted(harness.demo.devices.items())
                if d.user_id == harness.demo.user_id and d.status == status and k != this
                and not d.is_expired(harness.clock.now()) and k in screen.table.shown_rows)


async def confirm(pilot: Any, screen: DevicesScreen, device_id: str, key: str) -> None:
    screen.go_to_device(device_id)
    await pilot.pause()
    assert screen.table.highlighted_key == device_id
    await pilot.press(key)
    await wait_until(lambda: isinstance(pilot.app.screen, ConfirmScreen), "the dialog", pilot=pilot)
    await pilot.press("y")


# --------------------------------------------------------------------------- failed refreshes

REFRESH_FAULTS: dict[str, tuple[Callable[[Harness, FaultTransport], None], str]] = {
    "500": (lambda h, f: h.demo.fail_next(500, path_contains=LIST_PATH), "HTTP 500"),
    "502-html": (lambda h, f: h.demo.fail_next(502, "<html><body>Bad Gateway</body></html>",
                                               path_contains=LIST_PATH), "HTTP 502"),
    "503": (lambda h, f: h.demo.fail_next(503, path_contains=LIST_PATH), "HTTP 503"),
    "429": (lambda h, f: h.demo.fail_next(429, path_contains=LIST_PATH), "rate limiting"),
    "timeout": (lambda h, f: f.add(raise_(httpx.ReadTimeout)), "did not answer in time"),
    "dropped": (lambda h, f: h.demo.disconnect_next(path_contains=LIST_PATH), "Cannot reach"),
    "closed-early": (lambda h, f: f.add(raise_(httpx.RemoteProtocolError)), "closed"),
    "not-json": (lambda h, f: f.add(answer(200, content=b"<html>Welcome to nginx!</html>",
                                           headers={"content-type": "text/html"})), "not JSON"),
    "truncated-json": (lambda h, f: f.add(answer(200, content=b'{"index":1,"items":[{"id":')), "not JSON"),
    "bad-gzip": (lambda h, f: f.add(answer(200, content=b"\x1f\x8b garbage",
                                           headers={"content-encoding": "gzip"})), "decoded"),
    "json-list": (lambda h, f: f.add(answer(200, json_body=[1, 2, 3])), "not a JSON object"),
    "items-not-a-list": (lambda h, f: f.add(answer(200, json_body={"items": "nope", "total_pages": 1})), "items"),
    "device-without-id": (lambda h, f: f.add(answer(200, json_body={"items": [{"body": {"status": "active"}}],
                                                                    "total_pages": 1})), "id"),
    "10MB-junk": (lambda h, f: f.add(answer(200, content=big_json_body(10))), "without a status"),
    "40MB": (lambda h, f: f.add(answer(200, content=b" " * (40 * 1024 * 1024))), "too large"),
    "redirect": (lambda h, f: f.add(answer(302, headers={"location": "https://login.example/sso"})), "redirected"),
}


async def test_failed_refreshes_are_stale_keep_rows_say_why_and_recover(tmp_path: Path) -> None:
    """Every fault in REFRESH_FAULTS, one after the other in one session (an app start costs a second)."""
    harness = signed_in_harness(tmp_path)
    faults = with_faults(harness)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        for fault, (inject, words) in REFRESH_FAULTS.items():
            devices = dict(screen.devices)
            rows = dict(screen.table.shown_rows)
            inject(harness, faults)
            await next_refresh(pilot, harness, screen)

            assert screen.connection == "stale", (fault, screen.problem)
            assert words in (screen.problem or ""), (fault, screen.problem)
            # Nothing lost, nothing half-updated (cells such as "5 min ago" move on with the clock).
            assert set(screen.table.shown_rows) == set(rows) and screen.devices == devices, fault
            assert screen.stale_since == harness.clock.now(), fault
            header = widget_text(screen.query_one("#devices-header"))
            assert f"stale since {harness.clock.now():%H:%M:%S} UTC" in header and words in header, (fault, header)
            healthy(app)

            # The next try (after the back-off) works: live again by itself.
            await next_refresh(pilot, harness, screen, screen.retry_delay)
            assert screen.connection == "live" and screen.problem is None and screen.stale_since is None, fault
            assert set(screen.table.shown_rows) == server_rows(harness), fault
            healthy(app)


async def test_429_with_retry_after_waits_that_long_and_says_so(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        harness.demo.fail_next(429, path_contains=LIST_PATH, headers={"Retry-After": "45"})
        await next_refresh(pilot, harness, screen)
        assert screen.connection == "stale"
        assert "rate limiting" in (screen.problem or "") and "45 s" in (screen.problem or "")
        before = harness.demo.request_count
        harness.clock.advance(44)
        await pilot.pause()
        assert harness.demo.request_count == before, "asked again before Retry-After passed"
        await next_refresh(pilot, harness, screen, 1)
        assert screen.connection == "live"


async def test_back_off_grows_while_the_server_keeps_failing(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        rows = dict(screen.table.shown_rows)
        devices = dict(screen.devices)
        delays = []
        for _ in range(5):
            harness.demo.fail_next(503, path_contains=LIST_PATH)
            await next_refresh(pilot, harness, screen, screen.retry_delay or None)
            delays.append(screen.retry_delay)
            # The same rows with the same data (relative times like "5 min ago" move on with the clock).
            assert set(screen.table.shown_rows) == set(rows) and screen.devices == devices
        assert delays == sorted(delays) and delays[-1] > delays[0], delays
        assert delays[-1] <= 60, delays  # capped
        await next_refresh(pilot, harness, screen, screen.retry_delay)
        assert screen.connection == "live"


# --------------------------------------------------------------------------- tolerant parsing


async def test_devices_with_missing_null_or_huge_fields_are_shown(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    faults = with_faults(harness)
    bare_id, null_id = str(uuid.uuid4()), str(uuid.uuid4())

    def add_odd_devices(page: dict[str, Any]) -> None:
        page["items"][0]["body"]["hostname"] = "h" * (10 * 1024 * 1024)  # a 10 MB hostname
        page["items"].append({"id": bare_id, "body": {"status": "active"}})  # no metadata, no resources
        page["items"].append({
            "id": null_id, "permission_denied": None, "metadata": None, "resources": None,
            "body": {"status": "LOCKED", "created": None, "updated": "yesterday", "expires": "not a date",
                     "user_id": "nope", "client_id": None, "trusted_device": "yes", "os": None,
                     "ip_address": 12345, "hostname": None},
        })

    faults.add(rewrite_list(harness, add_odd_devices), count=1000)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        assert set(screen.table.shown_rows) == server_rows(harness) | {bare_id, null_id}
        assert screen.devices[null_id].status == "locked"
        for device_id in (bare_id, null_id):
            screen.go_to_device(device_id)
            await pilot.pause()
            assert screen.highlighted().id == device_id
            assert device_id in str(screen.describe_pane._shown)
        app.export_screenshot()  # draws every visible row and the pane
        await pilot.press("j", "k", "s", "enter")
        await next_refresh(pilot, harness, screen)
        assert screen.connection == "live"
        healthy(app)


async def test_a_page_envelope_that_lies_about_total_pages(tmp_path: Path) -> None:
    """Every page repeats the same devices and claims a page count: bounded requests, no duplicates."""
    harness = signed_in_harness(tmp_path)
    faults = with_faults(harness)
    claim: Any = None

    def lie(page: dict[str, Any]) -> dict[str, Any]:
        return {**page, "total_pages": claim, "total": 10**9, "index": 1}

    faults.add(rewrite_list(harness, lie, always_page_one=True), count=10_000)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        for claim in (10**9, 0, -3, "lots", None, 2.5, float("inf"), float("nan")):
            before = len([r for r in faults.requests if is_list(r)])
            await next_refresh(pilot, harness, screen)
            per_refresh = len([r for r in faults.requests if is_list(r)]) - before
            assert 1 <= per_refresh <= 2, (claim, per_refresh)  # a page with nothing new ends the walk
            assert screen.connection == "live", (claim, screen.problem)
            assert set(screen.table.shown_rows) == server_rows(harness), claim
        healthy(app)


async def test_total_pages_larger_than_the_truth_is_a_clear_error(tmp_path: Path) -> None:
    """The demo (like the real server) answers 400 "Invalid page" past the end."""
    harness = signed_in_harness(tmp_path)
    faults = with_faults(harness)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        rows = dict(screen.table.shown_rows)

        def lie_then_tell_truth(request: httpx.Request) -> httpx.Response | None:
            if not is_list(request):
                return None
            response = harness.demo.handle(request)
            page = json.loads(response.read())
            if response.status_code == 200 and request.url.params.get("page") == "1":
                page["total_pages"] = 5
                page["items"] = page["items"][:3]
            return httpx.Response(response.status_code, json=page)

        faults.add(lie_then_tell_truth, count=10_000)
        await next_refresh(pilot, harness, screen)
        healthy(app)
        if screen.connection == "stale":
            assert "page" in (screen.problem or "").lower(), screen.problem
            assert screen.table.shown_rows == rows
        else:  # or it tolerated the lie and shows what it got
            assert set(screen.table.shown_rows) <= server_rows(harness)


async def test_list_devices_never_follows_more_than_max_pages(tmp_path: Path) -> None:
    """Each page brings new ids and claims more: the walk stops at MAX_PAGES."""
    calls = 0

    def endless(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        item = {"id": str(uuid.uuid4()), "body": {"status": "active"}}
        return httpx.Response(200, json={"index": calls, "total_pages": 10**9, "total": 10**9, "items": [item]})

    async with ZenMLClient("http://127.0.0.1:9", transport=httpx.MockTransport(endless)) as client:
        from zenml_devices_tui.core.secret import Secret

        client.token = Secret("t")
        devices = await client.list_devices()
    assert calls == MAX_PAGES and len(devices) == MAX_PAGES


# --------------------------------------------------------------------------- slow: a socket that never answers


async def test_a_server_slower_than_the_timeout_is_a_timeout_error() -> None:
    """Real TCP on 127.0.0.1: one server accepts and says nothing, one sends headers and stalls the body."""
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(65536)

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"ind")
        await writer.drain()

    for handler in (silent, stalls):
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with ZenMLClient(f"http://127.0.0.1:{port}", timeout=0.3) as client:
                with pytest.raises(Timeout) as caught:
                    await client.info()
            assert "did not answer in time" in caught.value.message
            assert f"127.0.0.1:{port}" in caught.value.message
        finally:
            for writer in writers:
                writer.close()
            server.close()
            await server.wait_closed()


# --------------------------------------------------------------------------- actions


async def test_404_on_an_action_because_the_device_was_deleted_elsewhere(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        for key in ("l", "d"):
            device = pick(harness, screen)
            del harness.demo.devices[device.id]  # deleted in the dashboard
            await confirm(pilot, screen, device.id, key)
            await wait_until(lambda: device.id not in screen.table.shown_rows, "the row to go", pilot=pilot)
            assert any("is gone" in m and device.hostname in m for m in notes(app)), notes(app)
            assert set(screen.table.shown_rows) == server_rows(harness)
            healthy(app)


@pytest.mark.parametrize("where", ["refresh", "action"])
async def test_401_mid_session_returns_to_sign_in_and_forgets_the_token(tmp_path: Path, where: str) -> None:
    harness = signed_in_harness(tmp_path)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        if where == "refresh":
            harness.demo.fail_next(401, path_contains=LIST_PATH)
            harness.clock.advance(harness.context.refresh_interval)
        else:
            device = pick(harness, screen)
            harness.demo.fail_next(401, path_contains=device.id)
            await confirm(pilot, screen, device.id, "l")
        await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.is_mounted, "the sign-in screen",
                         pilot=pilot)
        assert "Sign in again" in (app.screen.notice or "")
        await wait_until(lambda: "Sign in again" in widget_text(app.screen.query_one("#login-notice")),
                         "the notice to be drawn", pilot=pilot)
        assert app.stored_token is None
        await wait_until(lambda: harness.context.token_store.get(harness.demo.base_url) is None,
                         "the token to be forgotten", pilot=pilot)
        healthy(app)


ACTION_FAULTS: dict[str, tuple[Callable[[Harness, FaultTransport, str], None], str]] = {
    "500": (lambda h, f, i: h.demo.fail_next(500, path_contains=i), "HTTP 500"),
    "503": (lambda h, f, i: h.demo.fail_next(503, path_contains=i), "HTTP 503"),
    "429": (lambda h, f, i: h.demo.fail_next(429, path_contains=i, headers={"Retry-After": "7"}), "rate limiting"),
    "timeout": (lambda h, f, i: f.add(raise_(httpx.ReadTimeout, lambda r: i in r.url.path)), "did not answer"),
    "not-json": (lambda h, f, i: f.add(answer(200, content=b"<html/>", when=lambda r: i in r.url.path)), "not JSON"),
    "wrong-shape": (lambda h, f, i: f.add(answer(200, json_body={"ok": True}, when=lambda r: i in r.url.path)), "id"),
}


async def test_failed_actions_say_why_and_the_row_stays_as_the_server_has_it(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    faults = with_faults(harness)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        device = pick(harness, screen)
        for fault, (inject, words) in ACTION_FAULTS.items():
            app._notifications.clear()
            inject(harness, faults, device.id)
            await confirm(pilot, screen, device.id, "l")
            await wait_until(lambda: any(n.title == "Lock failed" for n in app._notifications), f"the error ({fault})",
                             pilot=pilot)
            message = next(str(n.message) for n in app._notifications if n.title == "Lock failed")
            assert words in message and device.hostname in message, (fault, message)
            assert harness.demo.devices[device.id].status == ACTIVE, fault
            assert screen.table.shown_rows[device.id][COLUMN_INDEX["status"]] == "active", fault
            assert screen.devices[device.id].status == ACTIVE, fault
            healthy(app)


async def test_an_action_whose_answer_is_lost_ends_with_the_table_matching_the_server(tmp_path: Path) -> None:
    """The server locked the device, but the answer never arrived: the table must learn the truth."""
    harness = signed_in_harness(tmp_path)
    faults = with_faults(harness)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        for lost in ("timeout", "not-json", "dropped"):
            device = pick(harness, screen)
            app._notifications.clear()

            def act_then_lose(request: httpx.Request) -> httpx.Response | None:
                if request.method != "PUT" or device.id not in request.url.path:
                    return None
                harness.demo.handle(request)  # the server does it...
                if lost == "timeout":  # ... and the answer is lost
                    raise httpx.ReadTimeout("injected", request=request)
                if lost == "dropped":
                    raise httpx.RemoteProtocolError("injected", request=request)
                return httpx.Response(200, content=b"\x00garbage")

            faults.add(act_then_lose)
            await confirm(pilot, screen, device.id, "l")
            await wait_until(lambda: any(n.title == "Lock failed" for n in app._notifications), "the error",
                             pilot=pilot)
            assert harness.demo.devices[device.id].status == LOCKED, lost
            # The outcome is unknown, so the table asks the server at once (no clock advance here):
            # with --refresh 3600 it would otherwise show the wrong state for an hour.
            await wait_until(lambda: screen.devices[device.id].status == LOCKED, f"the table to learn ({lost})",
                             timeout=5, pilot=pilot)
            assert screen.table.shown_rows[device.id][COLUMN_INDEX["status"]] == "locked", lost
            healthy(app)


# --------------------------------------------------------------------------- hostile device-flow answers

GOOD_START = {
    "device_code": "d" * 64, "user_code": "u" * 32, "verification_uri": "/devices/verify",
    "verification_uri_complete": "/devices/verify?device_id=32112074-6bcb-42c0-9e83-162f9a6b470d&user_code=" + "u" * 32,
    "expires_in": 300, "interval": 5,
}
BAD_STARTS: dict[str, tuple[Any, str]] = {
    "no-device-code": ({k: v for k, v in GOOD_START.items() if k != "device_code"}, "device code"),
    "no-user-code": ({k: v for k, v in GOOD_START.items() if k != "user_code"}, "user_code"),
    "no-verification-uri": ({k: v for k, v in GOOD_START.items()
                             if k not in ("verification_uri", "verification_uri_complete")}, "verification_uri"),
    "no-expires-in": ({k: v for k, v in GOOD_START.items() if k != "expires_in"}, "expires_in"),
    "negative-interval": ({**GOOD_START, "interval": -5}, "poll every -5 s"),
    "zero-interval": ({**GOOD_START, "interval": 0}, "poll every 0 s"),
    "absurd-interval": ({**GOOD_START, "interval": 10**9}, "interval"),
    "negative-expires-in": ({**GOOD_START, "expires_in": -1}, "expires in -1 s"),
    "absurd-expires-in": ({**GOOD_START, "expires_in": 10**12}, "1 s to 1 day"),
    "nan-interval": ({**GOOD_START, "interval": "NaN"}, "interval"),
    "javascript-link": ({**GOOD_START, "verification_uri_complete": "javascript:alert(document.cookie)"}, "http(s)"),
    "data-link": ({**GOOD_START, "verification_uri_complete": "data:text/html,<script>x()</script>"}, "http(s)"),
    "file-link": ({**GOOD_START, "verification_uri_complete": "file:///etc/passwd"}, "http(s)"),
    "not-json": (b"<html>sign in</html>", "not JSON"),
    "a-list": ([GOOD_START], "not a JSON object"),
}


async def test_hostile_device_authorizations_are_refused_and_nothing_is_polled_or_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each answer in BAD_STARTS in turn (n asks for a new code, which gets the next one)."""
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    harness = make_harness(tmp_path, auto_approve_after=None, can_open_browser=True)
    faults = with_faults(harness)
    cases = list(BAD_STARTS.items())
    current: list[Any] = []

    def hostile_start(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/api/v1/device_authorization":
            return None
        body = current[0]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    faults.add(hostile_start, count=10_000)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        def starts() -> int:
            return len([r for r in faults.requests if r.url.path == "/api/v1/device_authorization"])

        for i, (case, (body, words)) in enumerate(cases):
            current[:] = [body]
            before = starts()
            if i == 0:
                await wait_until(lambda: isinstance(app.screen, LoginScreen), "the login screen", pilot=pilot)
            else:
                await pilot.press("n")
            screen: LoginScreen = app.screen  # type: ignore[assignment]
            await wait_until(lambda: starts() > before and screen.phase == "failed", case, pilot=pilot)
            status = screen.status_text(harness.clock.monotonic()).plain
            assert "Sign-in failed." in status and words in status, (case, status)
            assert screen.link is None, case
            for action in ("copy_link", "show_qr", "open_browser"):
                assert not screen.check_action(action, ()), (case, action)
            if case in ("no-device-code", "javascript-link"):
                await pilot.press("o", "c", "v")  # (each key press costs real time: only twice)
            harness.clock.advance(600)  # long past any interval: still nothing
            await pilot.pause()
            assert not [r for r in faults.requests if r.url.path == "/api/v1/login"], f"polled anyway ({case})"
            assert opened == [], case
            healthy(app)
        assert "d" * 64 not in app.export_screenshot()
        assert starts() == len(cases)


async def test_a_link_to_another_host_is_flagged_on_the_login_screen(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    faults = with_faults(harness)

    def elsewhere(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/api/v1/device_authorization":
            return None
        data = json.loads(harness.demo.handle(request).read())
        query = data["verification_uri_complete"].split("?", 1)[1]
        data["verification_uri_complete"] = f"https://zenml-login.evil.example/devices/verify?{query}"
        return httpx.Response(200, json=data)

    faults.add(elsewhere)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "waiting",
                         "the link", pilot=pilot)
        screen = app.screen
        assert screen.link.host_differs
        warning = screen.query_one("#login-warning")
        assert warning.display
        text = widget_text(warning)
        assert "zenml-login.evil.example" in text and "demo.zenml.local" in text and "phishing" in text
        assert "zenml-login.evil.example" in app.export_screenshot()


@pytest.mark.parametrize("status", [502, 429])
async def test_server_errors_while_starting_the_login_are_retried_with_a_message(tmp_path: Path,
                                                                                  status: int) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    harness.demo.fail_next(status, path_contains="/device_authorization", count=2)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "unreachable",
                         "the failure", pilot=pilot)
        screen: LoginScreen = app.screen  # type: ignore[assignment]
        status_text = screen.status_text(harness.clock.monotonic()).plain
        assert harness.demo.base_url in status_text
        assert ("rate limiting" if status == 429 else f"HTTP {status}") in status_text
        for _ in range(20):
            harness.clock.advance(5)
            await pilot.pause()
            if screen.phase == "waiting":
                break
        await wait_until(lambda: screen.phase == "waiting", "the link after the retries", pilot=pilot)
        assert screen.link is not None
        healthy(app)


async def test_a_poll_that_keeps_failing_keeps_waiting_then_expires(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "waiting",
                         "the link", pilot=pilot)
        screen: LoginScreen = app.screen  # type: ignore[assignment]
        harness.demo.fail_next(503, path_contains="/api/v1/login", count=1000)
        for _ in range(80):
            harness.clock.advance(10)
            await pilot.pause()
            if screen.phase != "waiting":
                break
        await wait_until(lambda: screen.phase == "expired", "expiry", pilot=pilot)
        assert "Press n for a new code." in screen.status_text(harness.clock.monotonic()).plain
        healthy(app)
