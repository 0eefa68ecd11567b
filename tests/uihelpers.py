"""Building the app for Pilot and snapshot tests: the demo server, a fake clock, an isolated config dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.core.clock import FakeClock
from zenml_devices_tui.core.config import AppConfig
from zenml_devices_tui.core.context import AppContext
from zenml_devices_tui.core.token_store import StoredToken, open_token_store
from zenml_devices_tui.demo.server import DemoServer

TEST_CLIENT_ID = "5b1f9d0e-7c2a-4f3e-9a6b-0c1d2e3f4a5b"
TEST_HOSTNAME = "test-laptop"
TEST_USER_AGENT = f"Host/{TEST_HOSTNAME} ZenML/0.98.0 Python/3.11.7 OS/Linux"


@dataclass
class Harness:
    clock: FakeClock
    demo: DemoServer
    context: AppContext
    clients: list[ZenMLClient]


def real_context(
    tmp_path: Path,
    url: str,
    clock: FakeClock | None = None,
    clients: list[ZenMLClient] | None = None,
    timeout: float = 30.0,
) -> AppContext:
    """A context for a real server over HTTP: memory token store, isolated config dir, a fresh client id.

    With ``clock`` the refresh loop and the device flow sleep on it; without, on real time.
    """
    import uuid

    config_dir = tmp_path / "config"

    def make_client(base_url: str) -> ZenMLClient:
        client = ZenMLClient(base_url, user_agent=TEST_USER_AGENT, timeout=timeout)
        if clients is not None:
            clients.append(client)
        return client

    context = AppContext(
        config_dir=config_dir,
        config=AppConfig(keymap={}, theme=None, refresh=None),
        token_store=open_token_store(config_dir, backend="memory"),
        client_id=str(uuid.uuid4()),
        user_agent=TEST_USER_AGENT,
        hostname=TEST_HOSTNAME,
        make_client=make_client,
        server_url=url,
        refresh_interval=5.0,
        remember_servers=False,
    )
    if clock is not None:
        context.clock, context.monotonic, context.sleep = clock.now, clock.monotonic, clock.sleep
    return context


def make_harness(
    tmp_path: Path,
    *,
    demo: DemoServer | None = None,
    clock: FakeClock | None = None,
    server_url: str | None = "default",
    read_only: bool = False,
    keymap: dict[str, str] | None = None,
    can_open_browser: bool = False,
    auto_approve_after: float | None = 3.0,
    **demo_kwargs: Any,
) -> Harness:
    clock = clock or FakeClock()
    if demo is None:
        demo = DemoServer(clock=clock.now, auto_approve_after=auto_approve_after, live=False, **demo_kwargs)
    clients: list[ZenMLClient] = []

    def make_client(url: str) -> ZenMLClient:
        client = ZenMLClient(url, transport=demo.transport, user_agent=TEST_USER_AGENT)
        clients.append(client)
        return client

    config_dir = tmp_path / "config"
    context = AppContext(
        config_dir=config_dir,
        config=AppConfig(keymap=dict(keymap or {}), theme=None, refresh=None),
        token_store=open_token_store(config_dir, backend="memory"),
        client_id=TEST_CLIENT_ID,
        user_agent=TEST_USER_AGENT,
        hostname=TEST_HOSTNAME,
        make_client=make_client,
        server_url=demo.base_url if server_url == "default" else server_url,
        refresh_interval=5.0,
        read_only=read_only,
        demo=demo,
        can_open_browser=can_open_browser,
        remember_servers=False,
        clock=clock.now,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    return Harness(clock=clock, demo=demo, context=context, clients=clients)


def demo_token(harness: Harness) -> StoredToken:
    """Sign the test client in on the demo server through the API and return the stored token."""
    import httpx

    demo = harness.demo
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as http:
        start = http.post(
            "/api/v1/device_authorization",
            data={"client_id": TEST_CLIENT_ID},
            headers={"User-Agent": TEST_USER_AGENT},
        ).json()
        admin = http.post(
            "/api/v1/login", data={"username": demo.user_name, "password": demo.admin_password}
        ).json()["access_token"]
        device_id = start["verification_uri_complete"].split("device_id=")[1].split("&")[0]
        http.put(
            f"/api/v1/devices/{device_id}/verify",
            json={"user_code": start["user_code"], "trusted_device": False},
            headers={"Authorization": f"Bearer {admin}"},
        ).raise_for_status()
        token = http.post(
            "/api/v1/login",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": TEST_CLIENT_ID,
                "device_code": start["device_code"],
            },
        ).json()
    from zenml_devices_tui.core.models import TokenResponse

    return StoredToken.from_token_response(demo.base_url, TokenResponse.from_json(token), now=harness.clock.now())


def signed_in_harness(tmp_path: Path, **kwargs: Any) -> Harness:
    """A harness whose token store already holds a valid token for the demo server."""
    harness = make_harness(tmp_path, **kwargs)
    harness.context.token_store.put(demo_token(harness))
    return harness
