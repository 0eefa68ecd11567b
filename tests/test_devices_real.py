"""The devices screen end to end against the real ZenML 0.98.0 server (``real_server`` fixture).

A fresh user per test gives a device list of its own. The app's token comes from the API
login helpers (a real device flow, approved through the API) and is put in the token store,
so the app opens on the device table. The refresh loop sleeps on a FakeClock (started at
the real time, so relative times make sense); only HTTP takes real time, and it is waited
for with a bounded poll.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.realserver import RealServer
from tests.uihelpers import TEST_USER_AGENT, real_context
from zenml_devices_tui.core.clock import FakeClock
from zenml_devices_tui.core.models import TokenResponse
from zenml_devices_tui.core.token_store import StoredToken
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.confirm import ConfirmScreen
from zenml_devices_tui.ui.screens.devices import DevicesScreen
from zenml_devices_tui.ui.widgets.device_rows import COLUMN_INDEX, THIS_DEVICE_MARK

pytestmark = pytest.mark.realserver


async def wait_until(pilot: Any, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def agent(hostname: str) -> str:
    return f"Host/{hostname} ZenML/0.98.0 Python/3.11.7 OS/Linux"


def app_for(tmp_path: Path, server: RealServer, token: str, clock: FakeClock) -> DevicesApp:
    context = real_context(tmp_path, server.base_url, clock, timeout=60.0)
    response = TokenResponse.from_json({"access_token": token, "token_type": "bearer", "expires_in": None})
    context.token_store.put(StoredToken.from_token_response(server.base_url, response, now=clock.now()))
    return DevicesApp(context)


def server_status(server: RealServer, token: str, device_id: str) -> str:
    response = server.request("GET", f"/api/v1/devices/{device_id}", token=token)
    response.raise_for_status()
    return response.json()["body"]["status"]


async def test_real_devices_lock_from_the_table_and_session_end(real_server: RealServer, tmp_path: Path) -> None:
    from zenml_devices_tui.ui.screens.login import LoginScreen

    server = real_server
    _user_id, user_token = server.new_user_token()
    laptop = server.device_login(user_token, user_agent=agent("real-laptop-1"))
    runner = server.device_login(user_token, user_agent=agent("[b]real-ci[/b]"))
    this = server.device_login(user_token, user_agent=TEST_USER_AGENT)

    clock = FakeClock(start=datetime.now(timezone.utc))
    app = app_for(tmp_path, server, this.token, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DevicesScreen) and app.screen.loaded, "the table")
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        assert screen.connection == "live", screen.problem
        rows = screen.table.shown_rows
        assert set(rows) == {laptop.id, runner.id, this.id}
        hostname = COLUMN_INDEX["hostname"]
        assert rows[laptop.id][hostname] == "real-laptop-1"
        assert rows[runner.id][hostname] == "[b]real-ci[/b]"  # literal, as the server sent it
        assert rows[this.id][COLUMN_INDEX["this"]] == THIS_DEVICE_MARK
        assert rows[laptop.id][COLUMN_INDEX["status"]] == "active"
        assert screen.user is not None and screen.user.id == _user_id

        # Lock the laptop from the table: l, then y.
        screen.go_to_device(laptop.id)
        await pilot.pause()
        assert screen.table.highlighted_key == laptop.id
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.table.shown_rows[laptop.id][COLUMN_INDEX["status"]] == "locked",
                         "the locked row")
        # The server says so too (asked directly, not through the app).
        assert server_status(server, user_token, laptop.id) == "locked"
        assert server_status(server, user_token, runner.id) == "active"

        # Lock the app's own device through the API: the next refresh gets 401 and ends the session.
        response = server.request("PUT", f"/api/v1/devices/{this.id}", token=user_token, json={"locked": True})
        assert response.status_code == 200, response.text
        await wait_until(pilot, lambda: clock.sleepers >= 1, "the refresh loop to wait")
        clock.advance(5)
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), "the sign-in screen")
        assert app.stored_token is None
        assert app.context.token_store.get(server.base_url) is None
