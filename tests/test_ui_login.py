"""The server and sign-in screens, driven with Pilot against the demo server and a fake clock.

No test waits for real time: the login worker sleeps on the FakeClock, and a test moves
time with ``harness.clock.advance``. The login worker never finishes while it waits, so
tests poll for a state with :func:`until` instead of waiting for every worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from tests.uihelpers import TEST_CLIENT_ID, TEST_HOSTNAME, Harness, make_harness
from zenml_devices_tui.core.config import remember_server
from zenml_devices_tui.ui.app import SESSION_ENDED, DevicesApp
from zenml_devices_tui.ui.screens import login as login_mod
from zenml_devices_tui.ui.screens.login import LoginScreen
from zenml_devices_tui.ui.screens.qr import QRScreen
from zenml_devices_tui.ui.screens.server import ServerScreen
from zenml_devices_tui.ui.widgets.login_text import group_code

SIZE = (100, 30)


async def until(pilot: Pilot, condition: Callable[[], Any], what: str = "condition", tries: int = 200) -> None:
    """Let the app run (no real sleeping beyond Textual's own message passing) until ``condition()``."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause()
    raise AssertionError(f"timed out waiting for {what}")


def screen_text(app: DevicesApp) -> str:
    """The plain text of every visible Static on the current screen."""
    parts = []
    for widget in app.screen.query(Static):
        if not widget.display or (widget.parent is not None and not widget.parent.display):
            continue
        content = widget.content
        parts.append(getattr(content, "plain", None) or str(content))
    return "\n".join(parts)


def login_screen(app: DevicesApp) -> LoginScreen:
    screen = app.screen
    assert isinstance(screen, LoginScreen), f"expected the login screen, got {type(screen).__name__}"
    return screen


async def waiting(pilot: Pilot) -> LoginScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, LoginScreen) and pilot.app.screen.phase == "waiting",
                "the link to be shown")
    return login_screen(pilot.app)  # type: ignore[arg-type]


def pending_device(harness: Harness):  # type: ignore[no-untyped-def]
    return next(d for d in harness.demo.devices.values() if d.client_id == TEST_CLIENT_ID)


def notifications(app: DevicesApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def wrapping_transport(demo: Any, rewrite: Callable[[httpx.Request, httpx.Response], httpx.Response]):
    """The demo's transport with some answers rewritten (for what the demo server cannot be told to do)."""

    def handler(request: httpx.Request) -> httpx.Response:
        response = demo.handle(request)
        response.read()
        return rewrite(request, response)

    return httpx.MockTransport(handler)


def use_transport(harness: Harness, transport: httpx.MockTransport) -> None:
    from zenml_devices_tui.core.client import ZenMLClient

    def make_client(url: str) -> ZenMLClient:
        client = ZenMLClient(url, transport=transport, user_agent=harness.context.user_agent)
        harness.clients.append(client)
        return client

    harness.context.make_client = make_client


# ---------------------------------------------------------------- what the screen shows


async def test_shows_server_machine_link_and_code(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        text = screen_text(app)
        device = pending_device(harness)
        assert "demo" in text and "0.98.0" in text and harness.demo.base_url in text
        assert f"This machine  {TEST_HOSTNAME}" in text
        assert screen.link is not None
        assert screen.link.url.startswith(harness.demo.base_url + "/devices/verify?")
        assert f"device_id={device.id}" in screen.link.url
        assert screen.link.url in text  # whole, absolute
        assert screen.user_code == device.user_code  # exactly as received
        assert group_code(device.user_code) in text  # grouped for display only
        link = app.screen.query_one("#login-link", Static).content
        assert link.style.link == screen.link.url  # an OSC 8 hyperlink
        assert "Expires in    5:00" in text
        assert "Waiting for approval · next check in 5 s." in text
        assert "Warning" not in text
        harness.clock.advance(2)
        await pilot.pause(0)
        screen._redraw()
        assert "Expires in    4:58" in screen_text(app)
        assert "next check in 3 s" in screen_text(app)


async def test_c_copies_the_link_and_says_so(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == screen.link.url
        assert any(n.startswith("Copied") for n in notifications(app))


async def test_v_shows_the_qr_code_and_escape_closes_it(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, QRScreen), "the QR view")
        qr = app.screen
        assert isinstance(qr, QRScreen)
        assert qr.url == screen.link.url
        assert qr.scale >= 1  # it fits at 100 x 30
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "the QR view to close")


async def test_qr_view_says_when_the_terminal_is_too_small(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(60, 20)) as pilot:
        await waiting(pilot)
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, QRScreen), "the QR view")
        assert app.screen.scale == 0
        assert "too small for the QR code" in screen_text(app)


async def test_o_is_not_offered_without_a_local_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(login_mod.webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    harness = make_harness(tmp_path, auto_approve_after=None, can_open_browser=False)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        assert screen.check_action("open_browser", ()) is False
        await pilot.press("o")
        await pilot.pause()
        assert opened == []


async def test_o_opens_the_link_when_a_browser_is_possible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(login_mod.webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    harness = make_harness(tmp_path, auto_approve_after=None, can_open_browser=True)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        assert opened == []  # never by itself
        assert screen.check_action("open_browser", ()) is True
        await pilot.press("o")
        await until(pilot, lambda: opened, "webbrowser.open")
        assert opened == [screen.link.url]


# ---------------------------------------------------------------- outcomes


async def test_approval_stores_the_token_and_leaves_the_login(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=3.0)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await waiting(pilot)
        assert harness.context.token_store.get(harness.demo.base_url) is None
        harness.clock.advance(5)  # the demo approves after 3 s; the next poll is at 5 s
        await until(pilot, lambda: not isinstance(app.screen, LoginScreen), "the login screen to go")
        stored = harness.context.token_store.get(harness.demo.base_url)
        assert stored is not None
        assert app.stored_token is not None
        assert pending_device(harness).status == "active"


async def test_denied_says_so_and_n_gives_a_new_code(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        first_code = screen.user_code
        assert screen.check_action("new_code", ()) is False  # not while a request is live
        device = pending_device(harness)
        harness.demo.store.set_locked(device, True, harness.demo.now())
        harness.clock.advance(5)
        await until(pilot, lambda: screen.phase == "denied", "denied")
        text = screen_text(app)
        assert "Denied." in text and "Press n for a new code." in text
        assert screen.check_action("new_code", ()) is True
        await pilot.press("n")
        await until(pilot, lambda: screen.phase == "waiting", "a new code")
        assert screen.user_code and screen.user_code != first_code
        assert screen.user_code == pending_device(harness).user_code


async def test_expired_says_so_and_n_gives_a_new_code(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        harness.clock.advance(301)
        await until(pilot, lambda: screen.phase == "expired", "expired")
        text = screen_text(app)
        assert "Expired." in text and "Press n for a new code." in text
        assert screen.check_action("copy_link", ()) is None  # the old link is gone
        await pilot.press("n")
        await until(pilot, lambda: screen.phase == "waiting", "a new code")
        assert "Expires in    5:00" in screen_text(app)


async def test_unreachable_server_shows_url_and_reason_and_r_retries(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    harness.demo.disconnect_next(count=1, path_contains="/api/v1/info")
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "unreachable",
                    "unreachable")
        screen = login_screen(app)
        text = screen_text(app)
        assert harness.demo.base_url in text
        assert "connection refused" in text
        assert "press r to retry now" in text
        assert "Retrying by itself in 2 s" in text
        assert screen.check_action("retry", ()) is True
        await pilot.press("r")
        await until(pilot, lambda: screen.phase == "waiting", "the link after retrying")


async def test_unreachable_server_is_retried_with_back_off(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    harness.demo.disconnect_next(count=2, path_contains="/api/v1/info")
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "unreachable",
                    "unreachable")
        screen = login_screen(app)
        harness.clock.advance(2)
        await until(pilot, lambda: "Retrying by itself in 4 s" in screen_text(app), "the second, longer wait")
        harness.clock.advance(4)
        await until(pilot, lambda: screen.phase == "waiting", "the link after the automatic retry")


async def test_a_client_whose_transport_cannot_connect(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    use_transport(harness, httpx.MockTransport(refuse))
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "unreachable",
                    "unreachable")
        text = screen_text(app)
        assert f"Cannot reach {harness.demo.base_url}: connection refused" in text


async def test_rate_limited_polls_wait_and_say_how_long(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        harness.demo.fail_next(429, path_contains="/api/v1/login", headers={"Retry-After": "30"})
        harness.clock.advance(5)
        await until(pilot, lambda: screen.poll.reason == "rate_limited", "the rate limit")
        assert "Rate limited by the server: waiting 30 s before the next check." in screen_text(app)
        assert screen.phase == "waiting"


async def test_no_auth_server_says_device_login_is_unsupported(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)

    def no_auth(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path == "/api/v1/info":
            return httpx.Response(200, json={**response.json(), "auth_scheme": "NO_AUTH"})
        return response

    use_transport(harness, wrapping_transport(harness.demo, no_auth))
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "unsupported",
                    "unsupported")
        text = screen_text(app)
        assert "This server does not support device login." in text
        assert "NO_AUTH" in text and "OAUTH2_PASSWORD_BEARER" in text
        assert not any(d.client_id == TEST_CLIENT_ID for d in harness.demo.devices.values())


async def test_device_authorization_refused_with_403_is_unsupported(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    harness.demo.fail_next(403, {"detail": "Device authorization is not supported."},
                           path_contains="/api/v1/device_authorization")
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "unsupported",
                    "unsupported")
        text = screen_text(app)
        assert "Device authorization is not supported." in text
        assert "OAUTH2_PASSWORD_BEARER" in text


async def test_a_link_to_another_host_is_warned_about(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)

    def elsewhere(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path == "/api/v1/device_authorization" and response.status_code == 200:
            body = response.json()
            body["verification_uri_complete"] = "https://login.elsewhere.example" + body["verification_uri_complete"]
            return httpx.Response(200, json=body)
        return response

    use_transport(harness, wrapping_transport(harness.demo, elsewhere))
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        assert screen.link.host_differs
        text = screen_text(app)
        assert "Warning" in text and "login.elsewhere.example" in text and "demo.zenml.local" in text


async def test_server_strings_are_drawn_literally(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)

    def markup(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path == "/api/v1/info":
            return httpx.Response(200, json={**response.json(), "name": "[b red]evil[/]\x1b]8;;x\x07", "version": "1.0\n"})
        return response

    use_transport(harness, wrapping_transport(harness.demo, markup))
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await waiting(pilot)
        text = screen_text(app)
        assert "[b red]evil[/]]8;;x" in text
        assert "\x1b" not in text


async def test_the_notice_is_shown_at_the_top(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await waiting(pilot)
        assert not app.screen.query_one("#login-notice", Static).display
        app.call_later(app.session_ended)
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.notice == SESSION_ENDED,
                    "the new login screen")
        notice = app.screen.query_one("#login-notice", Static)
        assert notice.display and notice.content.plain == SESSION_ENDED
        # After a session ended nothing is asked of the server until the user presses n.
        await until(pilot, lambda: app.screen.phase == "ready", "the ready state")
        assert "Press n to sign in again" in app.screen.status_text(harness.clock.monotonic()).plain
        await pilot.press("n")
        await waiting(pilot)


async def test_a_locked_session_stays_locked_until_the_user_signs_in_again(tmp_path: Path) -> None:
    """A new device authorization for this client id resets a locked device to pending: only on n."""
    from tests.test_ui_devices import loaded
    from tests.uihelpers import signed_in_harness

    harness = signed_in_harness(tmp_path, auto_approve_after=None)
    token = harness.context.token_store.get(harness.demo.base_url)
    assert token is not None and token.device_id
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        demo = harness.demo
        demo.store.set_locked(demo.devices[token.device_id], True, demo.now())
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "ready",
                    "sign-in, waiting for n")
        assert harness.demo.devices[token.device_id].status == "locked"
        assert harness.context.token_store.get(harness.demo.base_url) is None
        await pilot.press("n")
        await waiting(pilot)
        assert harness.demo.devices[token.device_id].status == "pending"


async def test_leaving_the_screen_cancels_the_flow(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        screen = await waiting(pilot)
        flow = screen._flow
        assert flow is not None
        app.call_later(app.action_switch_server)
        await until(pilot, lambda: isinstance(app.screen, ServerScreen), "the server screen")
        assert flow.cancelled


# ---------------------------------------------------------------- the server screen


async def test_without_a_url_the_server_screen_asks(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, server_url=None, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ServerScreen), "the server screen")
        field = app.screen.query_one("#server-url", Input)
        assert field.placeholder == "https://zenml.example.com"
        assert app.focused is field

        await pilot.press(*"ftp://x")
        await pilot.press("enter")
        await pilot.pause()
        error = app.screen.query_one("#server-error", Static)
        assert error.display and "http:// or https://" in error.content.plain

        field.value = ""
        await pilot.press(*"http://zenml.example.com")
        await pilot.press("enter")
        await pilot.pause()
        assert "plain http://" in error.content.plain
        assert isinstance(app.screen, ServerScreen)


async def test_a_good_url_connects(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, server_url=None, auto_approve_after=None)
    harness.context.insecure = True  # the demo's URL is plain http:// to a non-loopback name
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ServerScreen), "the server screen")
        await pilot.press(*"demo.zenml.local")  # no scheme: https:// is assumed
        app.screen.query_one("#server-url", Input).value = harness.demo.base_url + "/"
        await pilot.press("enter")
        screen = await waiting(pilot)
        assert app.server_url == harness.demo.base_url
        assert screen.link is not None


async def test_recent_servers_are_offered(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, server_url=None, auto_approve_after=None)
    harness.context.insecure = True
    remember_server(harness.context.config_dir, "https://old.example.com")
    remember_server(harness.context.config_dir, harness.demo.base_url)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ServerScreen) and app.screen.recent, "the recent list")
        assert app.screen.recent == [harness.demo.base_url, "https://old.example.com"]
        await pilot.press("down")
        assert isinstance(app.focused, OptionList)
        await pilot.press("enter")
        screen = await waiting(pilot)
        assert app.server_url == harness.demo.base_url
        assert screen.user_code


async def test_the_no_keyring_notice_is_said_once_per_config_dir(tmp_path: Path) -> None:
    from zenml_devices_tui.core.token_store import TokenStore

    said = []
    for _ in range(2):
        harness = make_harness(tmp_path, auto_approve_after=None)
        harness.context.remember_servers = True
        # What open_token_store builds where no keyring is usable (whether one is here depends on the machine).
        harness.context.token_store = TokenStore(
            "file", config_dir=harness.context.config_dir, notice="No usable keyring here; tokens are kept in x."
        )
        app = DevicesApp(harness.context)
        async with app.run_test(size=SIZE) as pilot:
            await waiting(pilot)
            await until(pilot, lambda: not any(w.group == "notice" for w in app.workers), "the notice worker")
            said.append([n.message for n in app._notifications if n.title == "Token storage"])
    assert len(said[0]) == 1 and "tokens are kept in" in said[0][0]
    assert said[1] == []


async def test_insecure_mode_is_flagged_on_the_login_screen(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    harness.context.insecure = True
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await waiting(pilot)
        assert "TLS not verified (--insecure)" in screen_text(app)
