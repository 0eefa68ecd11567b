"""The project's own ZenMLClient against a real ZenML 0.98.0 server.

Approval (the dashboard's part) is done with the fixture's plain-httpx helpers; everything
the app itself does goes through ``ZenMLClient``.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import AsyncIterator

import pytest

from tests.realserver import RealServer, ZENML_USER_AGENT, free_port, jwt_claims
from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.core.errors import (
    NotAuthenticated,
    NotFound,
    OAuthError,
    RateLimited,
    RequestRejected,
    Timeout,
    Unreachable,
)
from zenml_devices_tui.core.models import Device, DeviceAuthorization, ServerInfo, TokenResponse
from zenml_devices_tui.core.secret import Secret

pytestmark = pytest.mark.realserver


@pytest.fixture
async def make_client(real_server: RealServer) -> AsyncIterator:
    clients: list[ZenMLClient] = []

    def make(token: str | Secret | None = None, **kw) -> ZenMLClient:
        if isinstance(token, str):
            token = Secret(token)
        c = ZenMLClient(real_server.base_url, token=token, timeout=30.0, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def device_id_of(token: Secret | str) -> str:
    raw = token.reveal() if isinstance(token, Secret) else token
    return jwt_claims(raw)["device_id"]


async def test_info(make_client) -> None:
    info = await make_client().info()
    assert isinstance(info, ServerInfo)
    assert info.version == "0.98.0" and info.auth_scheme == "OAUTH2_PASSWORD_BEARER"
    assert info.supports_device_login and info.active
    assert info.dashboard_url is None and info.server_url is None  # "" on the wire
    assert info.id is not None


async def test_full_device_login(real_server: RealServer, make_client) -> None:
    c = make_client()
    client_id = str(uuid.uuid4())
    auth = await c.start_device_authorization(client_id, "Host/client-host ZenML/0.98.0 Python/3.12.1 OS/Darwin")
    assert isinstance(auth, DeviceAuthorization)
    assert auth.expires_in == 300 and auth.interval == 1
    assert auth.verification_uri == "/devices/verify"
    assert auth.verification_uri_complete and auth.user_code in auth.verification_uri_complete
    assert "Secret('***')" in repr(auth.device_code)

    with pytest.raises(OAuthError) as err:
        await c.poll_device_token(client_id, auth.device_code)
    assert err.value.code == "authorization_pending" and err.value.status == 400

    device_id = auth.verification_uri_complete.split("device_id=")[1].split("&")[0]
    r = real_server.approve(device_id, auth.user_code, trusted=True)
    assert r.status_code == 200, r.text

    tok = await c.poll_device_token(client_id, auth.device_code)
    assert isinstance(tok, TokenResponse)
    assert tok.token_type == "bearer" and tok.expires_in is None
    assert device_id_of(tok.access_token) == device_id

    c.token = tok.access_token
    me = await c.current_user()
    assert me.name == real_server.admin_username and me.is_admin
    d = await c.get_device(device_id)
    assert isinstance(d, Device)
    assert (d.status, d.hostname, d.os, d.python_version, d.zenml_version) == (
        "active", "client-host", "Darwin", "3.12.1", "0.98.0"
    )
    assert d.trusted_device and d.client_id == client_id and d.hydrated
    assert d.user_id == me.id and d.user_name == real_server.admin_username
    assert d.created is not None and d.created.tzinfo is not None, "naive server datetimes become aware UTC"
    assert d.last_login is not None and d.expires is None

    with pytest.raises(OAuthError) as err:
        await c.poll_device_token(client_id, auth.device_code)
    assert err.value.code == "expired_token"


async def test_poll_errors_are_typed(real_server: RealServer, make_client) -> None:
    c = make_client()
    with pytest.raises(OAuthError) as err:
        await c.poll_device_token(str(uuid.uuid4()), Secret("0" * 64))
    assert err.value.code == "invalid_client"

    dev = real_server.device_login()
    real_server.request("PUT", f"/api/v1/devices/{dev.id}", token=real_server.admin_token(), json={"locked": True})
    with pytest.raises(OAuthError) as err:
        await c.poll_device_token(dev.client_id, Secret(dev.device_code))
    assert err.value.code == "access_denied" and "locked" in (err.value.description or "")

    # 400 with a string detail (not an OAuth error): a client id that is not a UUID.
    with pytest.raises(RequestRejected) as err:
        await c.poll_device_token("not-a-uuid", Secret("0" * 64))
    assert err.value.status == 400 and err.value.detail == "Invalid request: invalid client ID."
    assert not isinstance(err.value, OAuthError)

    # 422 bare array from the device authorization endpoint.
    with pytest.raises(RequestRejected) as err:
        await c.start_device_authorization("not-a-uuid", ZENML_USER_AGENT)
    assert err.value.status == 422 and err.value.error_class == "ValueError"


async def test_list_devices_follows_pages(real_server: RealServer, make_client) -> None:
    _, token = real_server.new_user_token()
    seeded = real_server.seed_devices(7, token, hostname_prefix="paged")
    c = make_client(token, page_size=3)
    devices = await c.list_devices()
    assert c.request_count == 3, "7 devices at 3 a page is 3 requests"
    assert [d.id for d in devices] == [d.id for d in reversed(seeded)], "all of them, newest first, no repeats"
    assert all(d.hydrated and d.python_version == "3.11.7" for d in devices)
    assert [d.hostname for d in devices][:2] == ["paged-006", "paged-005"]

    # One page when it all fits; an empty list for a user with no devices.
    c2 = make_client(token)
    assert len(await c2.list_devices()) == 7 and c2.request_count == 1
    _, empty = real_server.new_user_token()
    assert await make_client(empty).list_devices() == []


async def test_lock_unlock_and_delete(real_server: RealServer, make_client) -> None:
    admin = make_client(real_server.admin_token())
    dev = real_server.device_login()
    own = make_client(dev.token)
    assert (await own.get_device(dev.id)).status == "active"

    locked = await admin.lock_device(dev.id)
    assert locked.status == "locked" and locked.locked and locked.id == dev.id
    with pytest.raises(NotAuthenticated) as err:
        await own.current_user()
    assert err.value.status == 401 and err.value.error_class == "CredentialsNotValid"
    assert "is not active" in (err.value.detail or "")

    unlocked = await admin.unlock_device(dev.id)
    assert unlocked.status == "active"
    assert (await own.current_user()).name == real_server.admin_username

    assert await admin.delete_device(dev.id) is None
    with pytest.raises(NotAuthenticated):
        await own.current_user()
    with pytest.raises(NotFound) as err:
        await admin.get_device(dev.id)
    assert err.value.status == 404 and err.value.error_class == "KeyError"
    assert err.value.detail and "No authorized device with this ID found" in err.value.detail
    assert not err.value.detail.startswith('"'), "KeyError quotes are stripped"
    with pytest.raises(NotFound):
        await admin.delete_device(dev.id)


async def test_a_device_can_lock_itself_out(real_server: RealServer, make_client) -> None:
    dev = real_server.device_login()
    own = make_client(dev.token)
    assert (await own.lock_device(dev.id)).status == "locked"
    with pytest.raises(NotAuthenticated):
        await own.list_devices()


async def test_other_users_device_is_not_found(real_server: RealServer, make_client) -> None:
    dev = real_server.device_login()
    _, other_token = real_server.new_user_token()
    other = make_client(other_token)
    for call in (other.get_device, other.lock_device, other.unlock_device, other.delete_device):
        with pytest.raises(NotFound):
            await call(dev.id)
    assert dev.id not in {d.id for d in await other.list_devices()}


async def test_error_shapes_become_typed_errors(real_server: RealServer, make_client) -> None:
    # No token: refused locally, before any request.
    anon = make_client()
    with pytest.raises(NotAuthenticated):
        await anon.list_devices()
    assert anon.request_count == 0
    # A token the server cannot decode: 401 {"detail": ["CredentialsNotValid", ...]}.
    with pytest.raises(NotAuthenticated) as err:
        await make_client("not.a.jwt").list_devices()
    assert err.value.error_class == "CredentialsNotValid"
    # A path id that is not a UUID: 422 bare array.
    admin = make_client(real_server.admin_token())
    with pytest.raises(RequestRejected) as err:
        await admin.get_device("not-a-uuid")
    assert err.value.status == 422 and err.value.error_class == "ValueError"
    # Path ids are sanitised: nothing can climb out of /devices/.
    with pytest.raises((NotFound, RequestRejected)):
        await admin.get_device("../current-user")
    # Messages are one line, whatever the server sent (422 bodies carry multi-line tracebacks).
    assert "\n" not in err.value.message and "\n" not in (err.value.detail or "")


async def test_unreachable_server() -> None:
    port = free_port()
    async with ZenMLClient(f"http://127.0.0.1:{port}", timeout=5.0) as c:
        with pytest.raises(Unreachable) as err:
            await c.info()
    assert not isinstance(err.value, Timeout)
    assert f"127.0.0.1:{port}" in err.value.message


async def test_unreachable_server_says_connection_refused() -> None:
    async with ZenMLClient(f"http://127.0.0.1:{free_port()}", timeout=5.0) as c:
        with pytest.raises(Unreachable) as err:
            await c.info()
    assert "refused" in err.value.message


async def test_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (via the backlog) but never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        async with ZenMLClient(f"http://127.0.0.1:{port}", timeout=0.5) as c:
            with pytest.raises(Timeout):
                await asyncio.wait_for(c.info(), 10)


async def test_stopped_and_restarted_server(real_server: RealServer, make_client) -> None:
    dev = real_server.device_login()
    c = make_client(dev.token)
    port, db = real_server.port, real_server.db_path
    real_server.stop()
    try:
        assert not real_server.running
        with pytest.raises(Unreachable):
            await c.list_devices()
    finally:
        real_server.start()
    assert (real_server.port, real_server.db_path, real_server.running) == (port, db, True)
    # Same port, same database, same JWT secret: the session survives the restart.
    assert dev.id in {d.id for d in await c.list_devices()}


async def test_rate_limited_login_is_rate_limited(rate_limited_server: RealServer) -> None:
    async with ZenMLClient(rate_limited_server.base_url, timeout=30.0) as c:
        client_id = str(uuid.uuid4())
        auth = await c.start_device_authorization(client_id, ZENML_USER_AGENT)  # not rate limited
        codes = []
        for _ in range(8):
            try:
                await c.poll_device_token(client_id, auth.device_code)
            except OAuthError as exc:
                codes.append(exc.code)
            except RateLimited as exc:
                assert exc.status == 429 and exc.detail == "Minute request limit exceeded."
                assert exc.retry_after is None, "the server sends no Retry-After header"
                codes.append("429")
                break
    assert codes == ["authorization_pending"] * 5 + ["429"], codes
