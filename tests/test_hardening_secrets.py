"""No token and no device code anywhere a person or a log could see them.

Searched, for the access token and the device code of a real sign-in against the demo
server: the screen (``export_screenshot`` at every step), the notifications, Python
logging (every logger at DEBUG, httpx and httpcore included), Textual's log file
(``TEXTUAL_LOG``), and the crash output Textual prints with local variables when a
handler raises. A server that echoes a secret back in an error message does not get it
shown either. (The pty test in test_hardening_terminal.py checks the same for the bytes
written to a real terminal and for ``TEXTUAL_LOG`` set in the environment.)
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from textual import constants as textual_constants

from tests.faults import FaultTransport, leaked, until_approved_and_loaded, wait_until
from tests.uihelpers import TEST_CLIENT_ID, Harness, make_harness, signed_in_harness
from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.login import LoginScreen

SIZE = (120, 40)


class Secrets:
    """Collects every secret seen during a test, to search outputs for."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str | None) -> None:
        if value:
            self.values.add(value)
            # The JWT parts on their own (a truncated dump would show a prefix of the whole).
            self.values.update(part for part in value.split(".") if len(part) >= 16)

    def found_in(self, text: str) -> list[str]:
        return sorted(v for v in self.values if v in text)


def use_transport(harness: Harness, transport: httpx.AsyncBaseTransport) -> None:
    def make_client(url: str) -> ZenMLClient:
        client = ZenMLClient(url, transport=transport, user_agent=harness.context.user_agent)
        harness.clients.append(client)
        return client

    harness.context.make_client = make_client


def device_code_of(harness: Harness) -> str:
    return next(d.device_code for d in harness.demo.devices.values() if d.client_id == TEST_CLIENT_ID)


def notifications_text(app: DevicesApp) -> str:
    return "\n".join(f"{n.title}\n{n.message}" for n in app._notifications)


async def sign_in(pilot: Any, harness: Harness, secrets: Secrets, outputs: list[str]) -> None:
    """Run the device login to the devices table, taking screenshots on the way."""
    app = pilot.app
    await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "waiting",
                     "the sign-in link", pilot=pilot)
    secrets.add(device_code_of(harness))
    outputs.append(app.export_screenshot())
    await pilot.press("v")  # the QR view encodes the link, never the code
    await pilot.pause()
    outputs.append(app.export_screenshot())
    await pilot.press("escape")
    await until_approved_and_loaded(pilot, harness.clock)
    assert app.stored_token is not None
    secrets.add(app.stored_token.access_token.reveal())
    outputs.append(app.export_screenshot())


# --------------------------------------------------------------------------- screen, notifications, logs


async def test_no_secret_on_screen_in_notifications_or_in_any_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zenml_devices_tui.ui.screens.confirm import ConfirmScreen

    log_file = tmp_path / "textual.log"
    monkeypatch.setattr(textual_constants, "LOG_FILE", str(log_file))
    monkeypatch.setenv("ZENML_DEVICES_DEBUG", "1")  # the most talkative setting
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "asyncio", "textual"):
        caplog.set_level(logging.DEBUG, logger=name)

    harness = make_harness(tmp_path, auto_approve_after=3.0)
    faults = FaultTransport(harness.demo.transport)
    use_transport(harness, faults)
    secrets = Secrets()
    outputs: list[str] = []
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, harness, secrets, outputs)
        screen = app.screen

        # The help screen, the palette and a dialog: screenshots of each.
        await pilot.press("question_mark")
        await pilot.pause()
        outputs.append(app.export_screenshot())
        await pilot.press("escape")
        await pilot.press("d")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), "the dialog", pilot=pilot)
        outputs.append(app.export_screenshot())
        await pilot.press("escape")

        # A failed refresh, a refresh that crashes with an unexpected exception, a failed action.
        harness.demo.fail_next(500, path_contains="/devices")
        count = screen.refresh_count
        harness.clock.advance(harness.context.refresh_interval)
        await wait_until(lambda: screen.refresh_count > count, "the failed refresh", pilot=pilot)
        outputs.append(app.export_screenshot())

        def explode(request: httpx.Request) -> None:
            if "/devices" in request.url.path:
                raise RuntimeError("an unexpected bug in the transport")
            return None

        faults.add(explode)
        harness.clock.advance(60)
        await wait_until(lambda: any("Unexpected" in str(n.message) or "RuntimeError" in str(n.message)
                                     for n in app._notifications) or screen.problem is not None,
                         "the unexpected failure to be reported", pilot=pilot)
        outputs.append(app.export_screenshot())
        assert app.is_running

    outputs.append(notifications_text(app))
    outputs.append(caplog.text)
    assert log_file.exists() and log_file.stat().st_size > 0, "Textual wrote no log: the test proves nothing"
    outputs.append(log_file.read_text())
    assert len(secrets.values) >= 2
    for i, text in enumerate(outputs):
        for secret in secrets.values:
            assert leaked(secret, text) is None, f"a secret in output #{i}"


# --------------------------------------------------------------------------- a server that echoes secrets


async def test_a_server_echoing_the_token_or_code_in_errors_does_not_get_it_shown(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    token = harness.context.token_store.get(harness.demo.base_url)
    assert token is not None
    secret = token.access_token.reveal()
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        from zenml_devices_tui.ui.screens.devices import DevicesScreen

        await wait_until(lambda: isinstance(app.screen, DevicesScreen) and app.screen.loaded, "the table",
                         pilot=pilot)
        screen = app.screen
        # A refresh answered with an error that quotes the Authorization header.
        harness.demo.fail_next(400, {"detail": ["ValueError", f"Bad header: Bearer {secret}"]},
                               path_contains="/devices")
        count = screen.refresh_count
        harness.clock.advance(harness.context.refresh_interval)
        await wait_until(lambda: screen.refresh_count > count, "the failed refresh", pilot=pilot)
        assert screen.connection == "stale" and "Bad header" in (screen.problem or "")
        # An action answered the same way.
        device_id = screen.table.highlighted_key
        harness.demo.fail_next(409, {"detail": f"token {secret} is not allowed"}, path_contains=f"/{device_id}")
        await pilot.press("l" if screen.highlighted().status != "locked" else "u")
        await pilot.press("y")
        await wait_until(lambda: any("failed" in (n.title or "") for n in app._notifications), "the error",
                         pilot=pilot)
        shown = [app.export_screenshot(), notifications_text(app), screen.problem or ""]
    for text in shown:
        assert leaked(secret, text) is None, text


async def test_an_oauth_error_echoing_the_device_code_does_not_get_it_shown(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "waiting",
                         "the sign-in link", pilot=pilot)
        code = device_code_of(harness)
        harness.demo.fail_next(400, {"error": "access_denied", "error_description": f"device code {code} refused"},
                               path_contains="/login")
        harness.demo.fail_next(500, {"detail": ["RuntimeError", f"crashed on {code}"]}, path_contains="/login")
        for _ in range(6):
            harness.clock.advance(10)
            await pilot.pause()
            if app.screen.phase == "denied":
                break
        await wait_until(lambda: app.screen.phase == "denied", "the refusal", pilot=pilot)
        shown = [app.export_screenshot(), notifications_text(app), app.screen.status_text(0).plain]
    for text in shown:
        assert leaked(code, text) is None, text
    assert "refused" in shown[2]


# --------------------------------------------------------------------------- crash output


def capture_crash_output(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Keep what Textual prints on exit after an unhandled exception (a traceback with local variables)."""
    captured: list[Any] = []
    original = DevicesApp._print_error_renderables

    def capture(self: DevicesApp) -> None:
        captured.extend(self._exit_renderables)
        original(self)

    monkeypatch.setattr(DevicesApp, "_print_error_renderables", capture)
    return captured


def render_crash(captured: list[Any]) -> str:
    assert captured, "the app did not crash: the test proves nothing"
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False, color_system=None)
    for renderable in captured:
        console.print(renderable)
    return out.getvalue()


async def test_a_crash_in_a_handler_prints_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug that lets an exception escape a handler while the token is in local variables."""
    from zenml_devices_tui.ui.screens.devices import DevicesScreen

    harness = signed_in_harness(tmp_path)
    secret = harness.context.token_store.get(harness.demo.base_url).access_token.reveal()

    async def buggy_mount(self: DevicesScreen) -> None:
        stored = self.zapp.stored_token  # noqa: F841 - locals the traceback shows
        token = stored.access_token  # noqa: F841
        client = self.zapp.client
        await client.list_devices()  # raises from deep inside the client, with its locals on the stack

    def exploding(request: httpx.Request) -> httpx.Response:
        if "/devices" in request.url.path:
            raise ZeroDivisionError("a bug")
        return harness.demo.handle(request)

    use_transport(harness, httpx.MockTransport(exploding))
    monkeypatch.setattr(DevicesScreen, "on_mount", buggy_mount)
    captured = capture_crash_output(monkeypatch)
    app = DevicesApp(harness.context)
    with pytest.raises(ZeroDivisionError):  # run_test re-raises what crashed the app
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(lambda: bool(app._exit_renderables) or not app.is_running, "the crash", pilot=pilot)
    crash = render_crash(captured)
    assert "ZeroDivisionError" in crash and "buggy_mount" in crash  # it did print locals of that frame
    assert "Secret('***')" in crash
    assert leaked(secret, crash) is None


async def test_a_crash_during_sign_in_prints_no_device_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None)

    class Seen(list):  # the test's own record of the code; its repr keeps it out of the traceback
        def __repr__(self) -> str:
            return "Seen()"

    codes = Seen()

    def exploding(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/login":
            codes.append(dict(httpx.QueryParams(request.content.decode()))["device_code"])
            raise ZeroDivisionError("a bug")
        return harness.demo.handle(request)

    use_transport(harness, httpx.MockTransport(exploding))

    original = LoginScreen._on_event

    async def on_event_then_poll_in_a_handler(self: LoginScreen, event: Any) -> None:
        await original(self, event)
        from zenml_devices_tui.core import device_flow as flow

        if isinstance(event, flow.Started):
            login = self._flow
            device_code = login._device_code  # noqa: F841 - the Secret, as a local
            # A bug: poll from a message handler (not a worker), so the crash reaches the app.
            self.call_later(self.zapp.client.poll_device_token, self.context.client_id, device_code)

    monkeypatch.setattr(LoginScreen, "_on_event", on_event_then_poll_in_a_handler)
    captured = capture_crash_output(monkeypatch)
    app = DevicesApp(harness.context)
    with pytest.raises(ZeroDivisionError):
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(lambda: bool(app._exit_renderables) or not app.is_running, "the crash", pilot=pilot)
    crash = render_crash(captured)
    assert codes and "ZeroDivisionError" in crash and "_request" in crash
    assert leaked(codes[0], crash) is None
