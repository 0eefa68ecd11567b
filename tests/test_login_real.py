"""End to end: the app signs in to a real ZenML 0.98.0 server with the device flow.

The app runs headless with real time (the test server polls every 1 s). The test reads
the link the screen shows, approves it through the API as the dashboard would, and
checks the app stored a working token for this very device.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from textual.pilot import Pilot

from tests.realserver import RealServer, device_id_from_uri, jwt_claims
from tests.uihelpers import real_context
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.login import LoginScreen

pytestmark = pytest.mark.realserver


async def until(pilot: Pilot, condition: Callable[[], Any], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


async def test_sign_in_to_a_real_server(real_server: RealServer, tmp_path: Path) -> None:
    context = real_context(tmp_path, real_server.base_url, timeout=60.0)
    app = DevicesApp(context)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "waiting",
                    "the sign-in link")
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        assert screen.info is not None and screen.info.version == "0.98.0"
        link = screen.link
        assert link is not None and link.url.startswith(real_server.base_url + "/devices/verify?")
        assert not link.host_differs
        device_id = device_id_from_uri(link.url)
        user_code = parse_qs(urlsplit(link.url).query)["user_code"][0]
        assert user_code == screen.user_code

        approved = await asyncio.to_thread(real_server.approve, device_id, user_code)
        assert approved.status_code == 200, approved.text

        await until(pilot, lambda: not isinstance(app.screen, LoginScreen), "the signed-in state")
        stored = context.token_store.get(real_server.base_url)
        assert stored is not None
        assert app.stored_token is not None
        assert jwt_claims(stored.access_token.reveal())["device_id"] == device_id
        me = await asyncio.to_thread(real_server.request, "GET", "/api/v1/current-user",
                                     token=stored.access_token.reveal())
        assert me.status_code == 200
