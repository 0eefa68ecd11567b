"""Faults made real: a closed port, and the real ZenML 0.98.0 server going away mid-session and coming back.

The app talks to 127.0.0.1 over TCP with its real client. Its refresh and retry loops
sleep on a FakeClock, so the test decides when the next try happens; only the HTTP
requests take real time, and they are waited for with a bounded polling helper. The
real server is stopped and started again once, on the same port and database (tokens
survive because its JWT secret is fixed).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.faults import recording_clock, wait_until, widget_text
from tests.realserver import RealServer, free_port
from tests.uihelpers import real_context
from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.token_store import StoredToken
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.login import LoginScreen

SIZE = (140, 40)


def plain(widget: Any) -> str:
    return widget_text(widget)


def no_crash(app: DevicesApp) -> None:
    assert app.is_running, "the app stopped"
    assert not app._exit_renderables, "the app printed a traceback"
    assert app.return_code in (None, 0)


# --------------------------------------------------------------------------- down when the app starts


async def test_server_down_at_start_says_so_with_url_and_reason_and_retries(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    clock = recording_clock()
    clients: list[ZenMLClient] = []
    app = DevicesApp(real_context(tmp_path, url, clock, clients))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "unreachable",
                         "the unreachable state", pilot=pilot)
        screen = app.screen
        status = screen.status_text(clock.monotonic()).plain
        assert url in status
        assert "connection refused" in status
        assert "press r to retry now" in status and "Retrying by itself in 2 s" in status
        no_crash(app)

        # It retries by itself, waiting longer each time...
        attempts = clients[0].request_count
        clock.advance(2)
        await wait_until(lambda: clients[0].request_count > attempts and screen.phase == "unreachable"
                         and screen.retry_at is not None, "the automatic retry", pilot=pilot)
        assert clock.slept[-2:] == [2.0, 4.0]
        # ... and r retries at once.
        attempts = clients[0].request_count
        await pilot.press("r")
        await wait_until(lambda: clients[0].request_count > attempts and screen.phase == "unreachable",
                         "the retry on r", pilot=pilot)
        assert url in screen.status_text(clock.monotonic()).plain
        no_crash(app)


async def test_signed_in_but_server_down_at_start_shows_an_empty_stale_table(tmp_path: Path) -> None:
    from zenml_devices_tui.ui.screens.devices import DevicesScreen

    url = f"http://127.0.0.1:{free_port()}"
    clock = recording_clock()
    context = real_context(tmp_path, url, clock)
    context.token_store.put(StoredToken(url, Secret("a-token-for-a-dead-server"), None, None, None))
    app = DevicesApp(context)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, DevicesScreen) and app.screen.loaded, "the first load",
                         pilot=pilot)
        screen = app.screen
        assert screen.connection == "stale"
        assert "connection refused" in (screen.problem or "")
        assert url in plain(screen.query_one("#devices-header"))
        assert "did not answer" in plain(screen.query_one("#devices-empty"))
        no_crash(app)


# --------------------------------------------------------------------------- stops mid-session, comes back


@pytest.mark.realserver
async def test_server_stops_mid_session_and_comes_back(real_server: RealServer, tmp_path: Path) -> None:
    from zenml_devices_tui.ui.screens.devices import DevicesScreen

    _, user_token = real_server.new_user_token()
    seeded = real_server.seed_devices(3, user_token, hostname_prefix="restart")
    this = seeded[0]
    url = real_server.base_url
    clock = recording_clock()
    context = real_context(tmp_path, url, clock)
    context.token_store.put(StoredToken(url, Secret(this.token), None, this.id, None))

    app = DevicesApp(context)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, DevicesScreen) and app.screen.connection == "live",
                         "the first load", timeout=30, pilot=pilot)
        screen: DevicesScreen = app.screen  # type: ignore[assignment]
        rows = dict(screen.table.shown_rows)
        assert set(rows) == {d.id for d in seeded}
        last_good = screen.last_success
        header = screen.query_one("#devices-header")

        real_server.stop()
        try:
            # The next refresh fails: stale, since when, the rows stay.
            count = screen.refresh_count
            clock.advance(context.refresh_interval)
            await wait_until(lambda: screen.refresh_count > count, "the failed refresh", timeout=30, pilot=pilot)
            assert screen.connection == "stale"
            assert screen.table.shown_rows == rows
            assert screen.stale_since == clock.now() and screen.last_success == last_good
            stale_at = clock.now().strftime("%H:%M:%S")
            assert f"stale since {stale_at} UTC" in plain(header)
            assert "connection refused" in (screen.problem or "") or "closed" in (screen.problem or "")

            # It keeps retrying by itself, each time waiting longer.
            delays = []
            for _ in range(2):
                delays.append(clock.slept[-1])
                count = screen.refresh_count
                clock.advance(clock.slept[-1])
                await wait_until(lambda: screen.refresh_count > count, "a retry", timeout=30, pilot=pilot)
                assert screen.connection == "stale" and screen.table.shown_rows == rows
            delays.append(clock.slept[-1])
            assert delays[0] < delays[1] < delays[2], delays
            assert f"stale since {stale_at} UTC" in plain(header)  # still the time of the first failure
            no_crash(app)
        finally:
            real_server.start()

        # Back on the same port and database: the next try finds it, and the table is live again.
        count = screen.refresh_count
        clock.advance(clock.slept[-1])
        await wait_until(lambda: screen.refresh_count > count and screen.connection == "live",
                         "live again", timeout=30, pilot=pilot)
        assert screen.stale_since is None and screen.problem is None
        assert set(screen.table.shown_rows) == set(rows)
        assert screen.last_success == clock.now()
        assert "stale" not in plain(header)
        no_crash(app)


# --------------------------------------------------------------------------- real 401 and 404


@pytest.mark.realserver
async def test_real_slow_server_404_on_an_action_and_401_mid_refresh(real_server: RealServer, tmp_path: Path) -> None:
    from zenml_devices_tui.ui.screens.confirm import ConfirmScreen
    from zenml_devices_tui.ui.screens.devices import DevicesScreen

    _, user_token = real_server.new_user_token()
    this, other = real_server.seed_devices(2, user_token, hostname_prefix="gone")
    url = real_server.base_url
    clock = recording_clock()
    context = real_context(tmp_path, url, clock, timeout=2.0)
    context.token_store.put(StoredToken(url, Secret(this.token), None, this.id, None))

    app = DevicesApp(context)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, DevicesScreen) and app.screen.connection == "live",
                         "the first load", timeout=30, pilot=pilot)
        screen: DevicesScreen = app.screen  # type: ignore[assignment]

        # Slower than the timeout: the server process is frozen (it still accepts connections,
        # it just never answers), then thawed.
        assert real_server.process is not None
        rows = set(screen.table.shown_rows)
        os.kill(real_server.process.pid, signal.SIGSTOP)
        try:
            count = screen.refresh_count
            clock.advance(context.refresh_interval)
            await wait_until(lambda: screen.refresh_count > count, "the timed-out refresh", timeout=30, pilot=pilot)
            assert screen.connection == "stale" and "did not answer in time" in (screen.problem or ""), screen.problem
            assert set(screen.table.shown_rows) == rows
        finally:
            os.kill(real_server.process.pid, signal.SIGCONT)
        count = screen.refresh_count
        clock.advance(clock.slept[-1])
        await wait_until(lambda: screen.refresh_count > count and screen.connection == "live", "live again",
                         timeout=30, pilot=pilot)
        no_crash(app)

        # 404: the other device is deleted elsewhere while the dialog is open.
        screen.go_to_device(other.id)
        await pilot.pause()
        await pilot.press("l")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), "the dialog", pilot=pilot)
        r = real_server.request("DELETE", f"/api/v1/devices/{other.id}", token=user_token)
        assert r.status_code == 200, r.text
        await pilot.press("y")
        await wait_until(lambda: other.id not in screen.table.shown_rows, "the row to go", timeout=30, pilot=pilot)
        messages = [str(n.message) for n in app._notifications]
        assert any("is gone" in m for m in messages), messages
        assert set(screen.table.shown_rows) == {this.id}
        no_crash(app)

        # 401: this device is locked in the dashboard; the next refresh ends the session, saying why.
        r = real_server.request("PUT", f"/api/v1/devices/{this.id}", token=user_token, json={"locked": True})
        assert r.status_code == 200, r.text
        count = screen.refresh_count
        clock.advance(context.refresh_interval)
        await wait_until(lambda: isinstance(app.screen, LoginScreen), "the sign-in screen", timeout=30, pilot=pilot)
        assert app.stored_token is None
        assert "locked, deleted or expired" in (app.screen.notice or "")
        await wait_until(lambda: context.token_store.get(url) is None, "the token to be forgotten", pilot=pilot)
        no_crash(app)


def test_the_real_command_against_a_closed_port_shows_the_reason_not_a_traceback(tmp_path: Path) -> None:
    """``zenml-devices http://127.0.0.1:<closed>`` on a pty: the sign-in screen names the URL and the reason."""
    from tests.faults import APP_CMD, REPO_ROOT, PtyProcess, app_env, screen_lines

    url = f"http://127.0.0.1:{free_port()}"
    pty = PtyProcess([*APP_CMD, url], env=app_env(tmp_path / "home", ZENML_DEVICES_TOKEN_STORE="memory"),
                     cols=120, rows=30, cwd=str(REPO_ROOT))
    try:
        assert pty.read_until(lambda out: b"connection refused" in out, timeout=30), pty.output[-800:]
        pty.settle()
        screen = "\n".join(screen_lines(pty.output, 120, 30))
        assert f"Cannot sign in at {url}" in screen, screen
        assert "connection refused (is the server running?)" in screen
        assert "press r to retry now" in screen
        assert "Traceback" not in screen and b"Traceback" not in pty.output
        assert pty.proc.poll() is None  # still running, retrying
        pty.write(b"q")
        assert pty.wait_gone(timeout=10) and pty.proc.returncode == 0
    finally:
        pty.kill()
