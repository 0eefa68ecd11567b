"""The embedded demo server: the device lifecycle, the wire format and errors, seed data, live changes,
fault injection. The shared contract tests (tests/test_contract.py) check the same API against a real
server; these tests cover what only the demo has (fake clock, seeding, faults) and pin the details.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zenml_devices_tui.demo.jwt import peek_claims
from zenml_devices_tui.demo.server import DemoServer

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
UA = "Host/test-box ZenML/0.98.0 Python/3.11.7 OS/Linux"
NAIVE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$")
START = datetime(2026, 12, 3, 15, 0, 0, 123456, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def demo(clock: FakeClock) -> DemoServer:
    """Seeded, static, approvals only through the API."""
    return DemoServer(clock=clock.now, auto_approve_after=None, live=False)


@pytest.fixture
def http(demo: DemoServer) -> Iterator[httpx.Client]:
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_token(http: httpx.Client, demo: DemoServer) -> str:
    r = http.post("/api/v1/login", data={"username": demo.user_name, "password": "demo-pass"})
    assert r.status_code == 200, r.text
    http.cookies.clear()  # keep the session cookie out of later requests made with other tokens
    return r.json()["access_token"]


def start_login(http: httpx.Client, client_id: str, user_agent: str = UA) -> dict[str, Any]:
    r = http.post("/api/v1/device_authorization", data={"client_id": client_id}, headers={"User-Agent": user_agent})
    assert r.status_code == 200, r.text
    body = r.json()
    body["device_id"] = body["verification_uri_complete"].split("device_id=")[1].split("&")[0]
    return body


def poll(http: httpx.Client, client_id: str, device_code: str) -> httpx.Response:
    return http.post(
        "/api/v1/login", data={"grant_type": DEVICE_GRANT, "client_id": client_id, "device_code": device_code}
    )


def approve(http: httpx.Client, token: str, start: dict[str, Any], trusted: bool = False) -> httpx.Response:
    return http.put(
        f"/api/v1/devices/{start['device_id']}/verify",
        json={"user_code": start["user_code"], "trusted_device": trusted},
        headers=bearer(token),
    )


def full_login(http: httpx.Client, demo: DemoServer, client_id: str | None = None) -> tuple[str, str, str]:
    """(client id, device id, device token)."""
    client_id = client_id or str(uuid.uuid4())
    start = start_login(http, client_id)
    assert approve(http, admin_token(http, demo), start).status_code == 200
    r = poll(http, client_id, start["device_code"])
    assert r.status_code == 200, r.text
    return client_id, start["device_id"], r.json()["access_token"]


def oauth_error(r: httpx.Response) -> tuple[str, str]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error", "error_description", "error_uri"} and body["error_uri"] is None
    return body["error"], body["error_description"]


def detail_list(r: httpx.Response, status: int, cls: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail[0] == cls, detail
    return str(detail[1])


def bare_array(r: httpx.Response) -> str:
    assert r.status_code == 422, r.text
    body = r.json()
    assert isinstance(body, list) and body[0] == "ValueError", body
    return str(body[1])


# ----------------------------------------------------------------------------- server basics


def test_health_info_and_version(http: httpx.Client, demo: DemoServer) -> None:
    r = http.get("/health")
    assert (r.status_code, r.text) == (200, "ok")
    assert http.get("/api/v1/version").json() == "0.98.0"
    info = http.get("/api/v1/info").json()
    assert list(info) == [
        "id", "name", "version", "active", "debug", "deployment_type", "database_type", "secrets_store_type",
        "auth_scheme", "server_url", "dashboard_url", "analytics_enabled", "metadata", "last_user_activity",
        "pro_dashboard_url", "pro_api_url", "pro_organization_id", "pro_organization_name", "pro_workspace_id",
        "pro_workspace_name",
    ]
    assert info["name"] == "demo" and info["version"] == "0.98.0" and info["deployment_type"] == "other"
    assert info["auth_scheme"] == "OAUTH2_PASSWORD_BEARER" and info["dashboard_url"] == "" and info["active"]
    assert info["id"] == demo.server_id


def test_unknown_paths_and_wrong_methods_answer_like_fastapi(http: httpx.Client) -> None:
    r = http.get("/api/v1/nope")
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    r = http.post("/api/v1/devices")
    assert (r.status_code, r.json(), r.headers["allow"]) == (405, {"detail": "Method Not Allowed"}, "GET")
    r = http.delete("/api/v1/info")
    assert r.status_code == 405
    # Like the real server, other GET paths are the dashboard's single-page app.
    r = http.get("/devices/verify", params={"device_id": "x", "user_code": "y"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")


def test_request_count_counts_every_request(http: httpx.Client, demo: DemoServer) -> None:
    before = demo.request_count
    http.get("/health")
    http.get("/api/v1/nope")
    assert demo.request_count == before + 2


async def test_works_with_an_async_client(demo: DemoServer) -> None:
    async with httpx.AsyncClient(transport=demo.transport, base_url=demo.base_url) as client:
        r = await client.get("/api/v1/info")
    assert r.status_code == 200 and r.json()["version"] == "0.98.0"


# ----------------------------------------------------------------------------- device flow


def test_full_device_flow_pending_verified_active(http: httpx.Client, demo: DemoServer, clock: FakeClock) -> None:
    client_id = str(uuid.uuid4())
    start = start_login(http, client_id)
    assert re.fullmatch(r"[0-9a-f]{64}", start["device_code"]) and re.fullmatch(r"[0-9a-f]{32}", start["user_code"])
    assert start["verification_uri"] == "/devices/verify"
    assert start["verification_uri_complete"] == (
        f"/devices/verify?device_id={start['device_id']}&user_code={start['user_code']}"
    )
    assert (start["expires_in"], start["interval"]) == (300, 5)
    device = demo.devices[start["device_id"]]
    assert (device.status, device.user_id, device.client_id) == ("pending", None, client_id)
    assert (device.hostname, device.os, device.python_version, device.zenml_version) == (
        "test-box", "Linux", "3.11.7", "0.98.0"
    )
    assert device.ip_address == "127.0.0.1" and device.expires == clock.now() + timedelta(seconds=300)

    assert oauth_error(poll(http, client_id, start["device_code"])) == (
        "authorization_pending", f"Authentication error: device with client ID {client_id} is pending."
    )
    token = admin_token(http, demo)
    r = approve(http, token, start, trusted=True)
    assert r.status_code == 200 and r.json()["body"]["status"] == "verified"
    assert r.json()["body"]["user_id"] == demo.user_id and r.json()["body"]["trusted_device"] is True

    clock.advance(7)
    r = poll(http, client_id, start["device_code"])
    assert r.status_code == 200 and "set-cookie" not in r.headers
    body = r.json()
    assert body == {
        "access_token": body["access_token"], "token_type": "bearer", "expires_in": None, "refresh_token": None,
        "csrf_token": None, "scope": None, "device_id": None, "device_metadata": None,
    }
    claims = peek_claims(body["access_token"])
    assert claims == {
        "sub": demo.user_id, "iss": demo.server_id, "aud": demo.server_id, "iat": clock.now().timestamp(),
        "device_id": start["device_id"],
    }
    assert (device.status, device.expires) == ("active", None)
    assert oauth_error(poll(http, client_id, start["device_code"]))[0] == "expired_token"

    clock.advance(2)
    r = http.get("/api/v1/current-user", headers=bearer(body["access_token"]))
    assert r.status_code == 200 and r.json()["name"] == demo.user_name
    assert device.last_login == device.updated == clock.now()


def test_user_agent_without_details_leaves_them_null(http: httpx.Client, demo: DemoServer) -> None:
    start = start_login(http, str(uuid.uuid4()), user_agent="python-httpx/0.27")
    device = demo.devices[start["device_id"]]
    assert (device.hostname, device.os, device.python_version, device.zenml_version) == (None, None, None, None)


def test_auto_approve_uses_the_clock(clock: FakeClock) -> None:
    demo = DemoServer(clock=clock.now, auto_approve_after=3.0, live=False)
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as http:
        client_id = str(uuid.uuid4())
        start = start_login(http, client_id)
        clock.advance(2.9)
        assert oauth_error(poll(http, client_id, start["device_code"]))[0] == "authorization_pending"
        clock.advance(0.2)
        r = poll(http, client_id, start["device_code"])
        assert r.status_code == 200, r.text
        device = demo.devices[start["device_id"]]
        assert (device.status, device.user_id, device.trusted_device) == ("active", demo.user_id, False)


def test_auto_approve_never_approves_an_expired_request(clock: FakeClock) -> None:
    demo = DemoServer(clock=clock.now, auto_approve_after=400, live=False)
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as http:
        client_id = str(uuid.uuid4())
        start = start_login(http, client_id)
        clock.advance(500)
        # The status is checked before the expiry: an expired request still answers "pending".
        assert oauth_error(poll(http, client_id, start["device_code"]))[0] == "authorization_pending"
        assert demo.devices[start["device_id"]].status == "pending"


def test_reauthorizing_resets_to_pending_and_kills_the_old_token(http: httpx.Client, demo: DemoServer) -> None:
    client_id, device_id, token = full_login(http, demo)
    assert http.get("/api/v1/current-user", headers=bearer(token)).status_code == 200
    last_login = demo.devices[device_id].last_login

    again = start_login(http, client_id, user_agent="python-httpx/0.27")
    device = demo.devices[device_id]
    assert again["device_id"] == device_id
    assert (device.status, device.user_id, device.trusted_device, device.failed_auth_attempts) == (
        "pending", demo.user_id, False, 0
    )
    assert device.hostname == "test-box" and device.last_login == last_login  # kept when not re-sent
    message = detail_list(http.get("/api/v1/current-user", headers=bearer(token)), 401, "CredentialsNotValid")
    assert message == f"Authentication error: device {device_id} is not active"
    # Owned pending devices are listed (unclaimed ones are not).
    r = http.get("/api/v1/devices", params={"id": device_id}, headers=bearer(admin_token(http, demo)))
    assert [item["body"]["status"] for item in r.json()["items"]] == ["pending"]


def test_lock_blocks_the_token_and_unlock_restores_it(http: httpx.Client, demo: DemoServer) -> None:
    client_id, device_id, token = full_login(http, demo)
    admin = admin_token(http, demo)
    r = http.put(f"/api/v1/devices/{device_id}", json={"locked": True}, headers=bearer(admin))
    assert r.status_code == 200 and r.json()["body"]["status"] == "locked" and r.json()["metadata"] is not None
    message = detail_list(http.get("/api/v1/devices", headers=bearer(token)), 401, "CredentialsNotValid")
    assert message.endswith(f"device {device_id} is not active")
    assert oauth_error(poll(http, client_id, "whatever")) == (
        "access_denied", f"Authentication error: device with client ID {client_id} is locked."
    )
    r = http.put(f"/api/v1/devices/{device_id}", json={"locked": False}, headers=bearer(admin))
    assert r.json()["body"]["status"] == "active"
    assert http.get("/api/v1/devices", headers=bearer(token)).status_code == 200


def test_unlock_makes_any_device_active(http: httpx.Client, demo: DemoServer) -> None:
    client_id = str(uuid.uuid4())
    start = start_login(http, client_id)
    admin = admin_token(http, demo)
    approve(http, admin, start)
    r = http.put(f"/api/v1/devices/{start['device_id']}", json={"locked": False}, headers=bearer(admin))
    assert r.json()["body"]["status"] == "active"
    assert oauth_error(poll(http, client_id, start["device_code"]))[0] == "expired_token"


def test_lock_body_is_validated(http: httpx.Client, demo: DemoServer) -> None:
    _, device_id, _ = full_login(http, demo)
    admin = bearer(admin_token(http, demo))
    url = f"/api/v1/devices/{device_id}"
    assert "bool_parsing" in bare_array(http.put(url, json={"locked": "maybe"}, headers=admin))
    assert "model_attributes_type" in bare_array(http.put(url, json=[1], headers=admin))
    assert "missing" in bare_array(http.put(url, headers=admin))
    # Pydantic's lax booleans, unknown fields ignored, {} changes nothing.
    assert http.put(url, json={"locked": "yes"}, headers=admin).json()["body"]["status"] == "locked"
    r = http.put(url, json={"other": 1}, headers=admin)
    assert r.status_code == 200 and r.json()["body"]["status"] == "locked"
    # Malformed JSON is rejected before the token is even looked at.
    r = http.put(url, content=b"{", headers={"content-type": "application/json"})
    assert "json_invalid" in bare_array(r)


def test_delete_kills_the_token_and_repeats_are_404(http: httpx.Client, demo: DemoServer) -> None:
    _, device_id, token = full_login(http, demo)
    admin = bearer(admin_token(http, demo))
    r = http.delete(f"/api/v1/devices/{device_id}", headers=admin)
    assert (r.status_code, r.content, r.json()) == (200, b"null", None)
    message = detail_list(http.get("/api/v1/current-user", headers=bearer(token)), 401, "CredentialsNotValid")
    assert message == f"Authentication error: error retrieving token device {device_id}"
    message = detail_list(http.delete(f"/api/v1/devices/{device_id}", headers=admin), 404, "KeyError")
    assert message == (
        f"\"Unable to get authorized device with ID '{device_id}': No authorized device with this ID found\""
    )


def test_wrong_device_codes_lock_the_device_at_three(http: httpx.Client, demo: DemoServer) -> None:
    client_id = str(uuid.uuid4())
    start = start_login(http, client_id)
    approve(http, admin_token(http, demo), start)
    prefix = f"Authentication error: device for client ID {client_id}"
    assert oauth_error(poll(http, client_id, "0" * 64)) == ("access_denied", f"{prefix} has an invalid device code.")
    assert oauth_error(poll(http, client_id, "0" * 64))[0] == "access_denied"
    assert oauth_error(poll(http, client_id, "0" * 64)) == (
        "access_denied", f"{prefix} has been locked due to too many failed authentication attempts."
    )
    device = demo.devices[start["device_id"]]
    assert (device.status, device.failed_auth_attempts) == ("locked", 3)
    assert oauth_error(poll(http, client_id, start["device_code"]))[1].endswith("is locked.")


def test_verified_but_expired_request_gets_expired_token(
    http: httpx.Client, demo: DemoServer, clock: FakeClock
) -> None:
    client_id = str(uuid.uuid4())
    start = start_login(http, client_id)
    approve(http, admin_token(http, demo), start)
    clock.advance(301)
    assert oauth_error(poll(http, client_id, start["device_code"])) == (
        "expired_token", f"Authentication error: device for client ID {client_id} has expired"
    )


def test_verify_errors(http: httpx.Client, demo: DemoServer, clock: FakeClock) -> None:
    admin = bearer(admin_token(http, demo))
    start = start_login(http, str(uuid.uuid4()))
    url = f"/api/v1/devices/{start['device_id']}/verify"
    assert "missing" in bare_array(http.put(url, json={}, headers=admin))
    assert detail_list(http.put(url, json={"user_code": "nope"}, headers=admin), 400, "ValueError") == (
        "Invalid request: invalid user code."
    )
    http.put(url, json={"user_code": "nope"}, headers=admin)
    assert detail_list(http.put(url, json={"user_code": "nope"}, headers=admin), 400, "ValueError") == (
        "Invalid request: device locked due to too many failed authentication attempts."
    )
    assert detail_list(http.put(url, json={"user_code": start["user_code"]}, headers=admin), 400, "ValueError") == (
        "Invalid request: device not pending verification."
    )
    late = start_login(http, str(uuid.uuid4()))
    clock.advance(301)
    r = approve(http, admin["Authorization"].split()[1], late)
    assert detail_list(r, 400, "ValueError") == "Invalid request: device verification expired."
    r = http.put(f"/api/v1/devices/{uuid.uuid4()}/verify", json={"user_code": "x"}, headers=admin)
    assert "No device with this client ID found" in detail_list(r, 404, "KeyError")


def test_device_owned_by_someone_else_cannot_be_verified(http: httpx.Client, demo: DemoServer) -> None:
    grace = next(u for u in demo.store.users.values() if u.name == "grace")
    grace_device = next(d for d in demo.devices.values() if d.user_id == grace.id)
    start = start_login(http, grace_device.client_id)  # someone re-authorizes grace's client id
    r = approve(http, admin_token(http, demo), start)
    assert detail_list(r, 400, "ValueError") == "Invalid request: this device is associated with another user."


def test_device_and_token_lifetimes_when_configured(clock: FakeClock) -> None:
    demo = DemoServer(
        clock=clock.now, auto_approve_after=None, live=False, seed=False,
        device_expiration_minutes=60, trusted_device_expiration_minutes=1440,
    )
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as http:
        client_id = str(uuid.uuid4())
        start = start_login(http, client_id)
        approve(http, admin_token(http, demo), start, trusted=True)
        body = poll(http, client_id, start["device_code"]).json()
        assert body["expires_in"] == 1440 * 60
        assert peek_claims(body["access_token"])["exp"] == int((clock.now() + timedelta(days=1)).timestamp())
        # Each request of the flow is a microsecond after the last (time passes between requests).
        assert abs(demo.devices[start["device_id"]].expires - (clock.now() + timedelta(days=1))) < timedelta(milliseconds=1)
        clock.advance(86400 + 5)  # within the 10 s leeway of the token, past the device's expiry
        r = http.get("/api/v1/current-user", headers=bearer(body["access_token"]))
        assert detail_list(r, 401, "CredentialsNotValid").endswith("has expired")
        clock.advance(10)
        r = http.get("/api/v1/current-user", headers=bearer(body["access_token"]))
        assert detail_list(r, 401, "CredentialsNotValid") == (
            "Authentication error: error decoding access token: Invalid JWT token: Signature has expired."
        )


# ----------------------------------------------------------------------------- authentication and errors


def test_missing_and_bad_tokens(http: httpx.Client, demo: DemoServer) -> None:
    r = http.get("/api/v1/devices")
    assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
    assert r.headers["www-authenticate"] == "Bearer"
    r = http.get("/api/v1/devices", headers={"Authorization": "Basic abc"})
    assert r.json() == {"detail": "Not authenticated"}
    prefix = "Authentication error: error decoding access token: Invalid JWT token: "
    assert detail_list(http.get("/api/v1/devices", headers=bearer("abc")), 401, "CredentialsNotValid") == (
        prefix + "Not enough segments."
    )
    token = admin_token(http, demo)
    r = http.get("/api/v1/devices", headers=bearer(token[:-4] + "AAAA"))
    assert detail_list(r, 401, "CredentialsNotValid") == prefix + "Signature verification failed."
    assert r.headers["x-request-id"]
    other = DemoServer(rng_seed=1, seed=False).password_token()  # another server's token
    assert "Signature verification failed" in detail_list(
        http.get("/api/v1/devices", headers=bearer(other)), 401, "CredentialsNotValid"
    )


def test_password_login(http: httpx.Client, demo: DemoServer) -> None:
    r = http.post("/api/v1/login", data={"username": demo.user_name, "password": "wrong"})
    assert detail_list(r, 401, "CredentialsNotValid") == "Authentication error: invalid username or password"
    r = http.post("/api/v1/login", data={"username": "nobody", "password": "demo-pass"})
    assert r.status_code == 401
    form = {"grant_type": "password", "username": demo.user_name, "password": "demo-pass"}
    r = http.post("/api/v1/login", data=form)
    assert r.status_code == 200
    assert r.headers["set-cookie"].startswith(f"zenml-server-{demo.server_id}=")
    assert "device_id" not in peek_claims(r.json()["access_token"])
    # Like a browser session, the cookie authenticates the next requests by itself.
    me = http.get("/api/v1/current-user")
    assert me.status_code == 200 and me.json()["metadata"]["user_metadata"] == {}
    assert me.json()["body"]["full_name"] == "Ada Lovelace"


def test_login_form_errors(http: httpx.Client) -> None:
    def detail(data: dict[str, str]) -> tuple[int, Any]:
        r = http.post("/api/v1/login", data=data)
        return r.status_code, r.json()

    cid = str(uuid.uuid4())
    assert detail({"grant_type": DEVICE_GRANT, "client_id": cid}) == (
        400, {"detail": "Invalid request: device code and client ID are required."}
    )
    assert detail({"grant_type": DEVICE_GRANT, "client_id": "bad", "device_code": "x"}) == (
        400, {"detail": "Invalid request: invalid client ID."}
    )
    assert detail({"grant_type": "foo"}) == (400, {"detail": "Unsupported grant type: foo"})
    assert detail({}) == (400, {"detail": "Invalid request: username is required."})
    status, body = detail({"grant_type": DEVICE_GRANT, "client_id": cid, "device_code": "x"})
    assert (status, body["error"]) == (400, "invalid_client")
    assert body["error_description"] == f"Authentication error: error retrieving device with client ID {cid}"


def test_device_authorization_validation(http: httpx.Client) -> None:
    message = bare_array(http.post("/api/v1/device_authorization", data={"client_id": "nope"}))
    assert message.startswith("1 validation error:")
    assert "'type': 'uuid_parsing', 'loc': ('body', 'client_id')" in message
    assert "'type': 'missing'" in bare_array(http.post("/api/v1/device_authorization", data={}))
    assert "'type': 'missing'" in bare_array(
        http.post("/api/v1/device_authorization", json={"client_id": str(uuid.uuid4())})
    )


def test_get_device_errors_and_hydration(http: httpx.Client, demo: DemoServer) -> None:
    admin = bearer(admin_token(http, demo))
    message = bare_array(http.get("/api/v1/devices/not-a-uuid", headers=admin))
    assert "'loc': ('path', 'device_id')" in message
    missing = str(uuid.uuid4())
    message = detail_list(http.get(f"/api/v1/devices/{missing}", headers=admin), 404, "KeyError")
    assert message.startswith('"Unable to get authorized device')
    own = next(d for d in demo.devices.values() if d.user_id == demo.user_id)
    r = http.get(f"/api/v1/devices/{own.id}", headers=admin)
    assert r.status_code == 200 and r.json()["metadata"] is not None
    r = http.get(f"/api/v1/devices/{own.id}", params={"hydrate": "false"}, headers=admin)
    assert r.json()["metadata"] is None
    # The token is checked before the path: a bad id without a token is a 401.
    assert http.get("/api/v1/devices/not-a-uuid").status_code == 401


def test_devices_of_others_and_unclaimed_requests_are_invisible(http: httpx.Client, demo: DemoServer) -> None:
    admin = bearer(admin_token(http, demo))
    listed = {item["id"] for item in http.get("/api/v1/devices", params={"size": 100}, headers=admin).json()["items"]}
    mine = {d.id for d in demo.devices.values() if d.user_id == demo.user_id}
    assert listed == mine and len(mine) < len(demo.devices)
    foreign = next(d for d in demo.devices.values() if d.user_id not in (None, demo.user_id))
    message = detail_list(http.get(f"/api/v1/devices/{foreign.id}", headers=admin), 404, "KeyError")
    assert message == f"'Unable to get device with ID {foreign.id}: No device with this ID found.'"
    assert http.put(f"/api/v1/devices/{foreign.id}", json={"locked": True}, headers=admin).status_code == 404
    assert http.delete(f"/api/v1/devices/{foreign.id}", headers=admin).status_code == 404
    unclaimed = next(d for d in demo.devices.values() if d.user_id is None)
    assert http.get(f"/api/v1/devices/{unclaimed.id}", headers=admin).status_code == 404
    r = http.get(f"/api/v1/devices/{unclaimed.id}", params={"user_code": unclaimed.user_code}, headers=admin)
    assert r.status_code == 200 and r.json()["resources"] == {"user": None}


def test_add_user_gets_an_empty_scoped_list(http: httpx.Client, demo: DemoServer) -> None:
    demo.add_user("bob", "bob-pass")
    r = http.post("/api/v1/login", data={"username": "bob", "password": "bob-pass"})
    http.cookies.clear()
    page = http.get("/api/v1/devices", headers=bearer(r.json()["access_token"])).json()
    assert page == {"index": 1, "max_size": 20, "total_pages": 1, "total": 0, "items": []}


def test_unexpected_errors_become_500(http: httpx.Client, demo: DemoServer) -> None:
    # ``scope_user`` passes the sort validation but is no column: the real server fails with a 500 too.
    r = http.get("/api/v1/devices", params={"sort_by": "scope_user"}, headers=bearer(admin_token(http, demo)))
    assert r.status_code == 500
    assert r.json() == {"detail": "An unexpected error occurred.", "request_id": r.json()["request_id"]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
    path=st.sampled_from(["/api/v1/devices", "/api/v1/devices/{id}", "/api/v1/devices/{id}/verify",
                          "/api/v1/login", "/api/v1/device_authorization", "/api/v1/current-user", "/x"]),
    device_id=st.one_of(st.uuids().map(str), st.text(alphabet="abcdef0123456789-xyz", max_size=40)),
    params=st.dictionaries(
        st.sampled_from(["page", "size", "sort_by", "hydrate", "id", "client_id", "status", "expires", "user",
                         "trusted_device", "failed_auth_attempts", "logical_operator", "user_code"]),
        st.text(max_size=30), max_size=4,
    ),
    body=st.one_of(st.none(), st.binary(max_size=60), st.dictionaries(st.text(max_size=10), st.text(max_size=10))),
    with_token=st.booleans(),
)
def test_the_handler_never_raises(
    demo: DemoServer, method: str, path: str, device_id: str, params: dict[str, str], body: Any, with_token: bool
) -> None:
    headers = {"Authorization": f"Bearer {demo.password_token()}"} if with_token else {}
    kwargs: dict[str, Any] = {"params": params, "headers": headers}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif isinstance(body, dict):
        kwargs["content"] = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    request = httpx.Request(method, demo.base_url + path.replace("{id}", device_id or "x"), **kwargs)
    response = demo.handle(request)
    # A 500 means a bug in the demo, except where the real server fails too: sorting by ``scope_user``
    # and a JSON list given to a datetime filter.
    crashes_the_real_server = params.get("sort_by", "").endswith("scope_user") or any(
        key == "expires" and value.startswith(("oneof:", "notoneof:")) for key, value in params.items()
    )
    assert response.status_code != 500 or crashes_the_real_server, response.text


# ----------------------------------------------------------------------------- listing


def test_device_json_shape(http: httpx.Client, demo: DemoServer) -> None:
    params = {"hydrate": "true", "size": 100}
    page = http.get("/api/v1/devices", params=params, headers=bearer(admin_token(http, demo))).json()
    item = page["items"][0]
    assert list(item) == ["body", "metadata", "resources", "id", "permission_denied"]
    assert list(item["body"]) == [
        "created", "updated", "user_id", "client_id", "expires", "trusted_device", "status", "os", "ip_address",
        "hostname",
    ]
    assert list(item["metadata"]) == [
        "python_version", "zenml_version", "city", "region", "country", "failed_auth_attempts", "last_login",
    ]
    user = item["resources"]["user"]
    assert list(user) == ["body", "metadata", "resources", "id", "permission_denied", "name"]
    assert list(user["body"]) == [
        "created", "updated", "active", "activation_token", "full_name", "email_opted_in", "is_service_account",
        "is_admin", "default_project_id", "avatar_url",
    ]
    assert user["metadata"] is None and user["resources"] is None and user["name"] == demo.user_name
    for entry in page["items"]:
        for value in (entry["body"]["created"], entry["body"]["updated"], entry["body"]["expires"],
                      entry["metadata"]["last_login"]):
            assert value is None or NAIVE_ISO.match(value), value


def test_list_hydrate_and_user_resource(http: httpx.Client, demo: DemoServer) -> None:
    admin = bearer(admin_token(http, demo))
    plain = http.get("/api/v1/devices", headers=admin).json()["items"]
    assert all(item["metadata"] is None and item["resources"]["user"]["id"] == demo.user_id for item in plain)
    hydrated = http.get("/api/v1/devices", params={"hydrate": "true"}, headers=admin).json()["items"]
    assert all(isinstance(item["metadata"], dict) for item in hydrated)
    assert "bool_parsing" in bare_array(http.get("/api/v1/devices", params={"hydrate": "maybe"}, headers=admin))


def test_paging(http: httpx.Client, demo: DemoServer) -> None:
    admin = bearer(admin_token(http, demo))
    total = sum(1 for d in demo.devices.values() if d.user_id == demo.user_id)
    first = http.get("/api/v1/devices", params={"size": 10}, headers=admin).json()
    assert (first["index"], first["max_size"], first["total"]) == (1, 10, total)
    assert first["total_pages"] == -(-total // 10)
    seen = [item["id"] for page in range(1, first["total_pages"] + 1)
            for item in http.get("/api/v1/devices", params={"size": 10, "page": page}, headers=admin).json()["items"]]
    assert len(seen) == len(set(seen)) == total
    past = first["total_pages"] + 1
    r = http.get("/api/v1/devices", params={"size": 10, "page": past}, headers=admin)
    message = detail_list(r, 400, "ValueError")
    assert message == (
        f"Invalid page {past}. The requested page size is 10 and there are a total of {total} items for this "
        f"query. The maximum page value therefore is {first['total_pages']}."
    )
    for size in ("0", "10001"):
        r = http.get("/api/v1/devices", params={"size": size}, headers=admin)
        assert "'loc': ('query', 'size')" in bare_array(r)
    assert "greater_than_equal" in bare_array(http.get("/api/v1/devices", params={"page": "0"}, headers=admin))


def test_sorting(http: httpx.Client, demo: DemoServer) -> None:
    admin = bearer(admin_token(http, demo))

    def order(sort_by: str) -> list[dict[str, Any]]:
        r = http.get("/api/v1/devices", params={"sort_by": sort_by, "size": 100, "hydrate": "true"}, headers=admin)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    created = [item["body"]["created"] for item in order("created")]
    assert created == sorted(created)
    assert [item["id"] for item in order("desc:created")] == [item["id"] for item in reversed(order("created"))]
    logins = [item["metadata"]["last_login"] for item in order("last_login")]
    nulls = logins.count(None)
    assert nulls and logins[:nulls] == [None] * nulls and logins[nulls:] == sorted(logins[nulls:])  # NULLs first
    r = http.get("/api/v1/devices", params={"sort_by": "hostname"}, headers=admin)
    message = detail_list(r, 422, "ValueError")
    assert "You can only sort by valid fields of this resource" in message
    # The filter model is checked before the token.
    r = http.get("/api/v1/devices", params={"sort_by": "hostname"})
    assert r.status_code == 422 and "detail" in r.json()


def test_filters(http: httpx.Client, demo: DemoServer) -> None:
    admin = bearer(admin_token(http, demo))

    def ids(**params: str) -> set[str]:
        r = http.get("/api/v1/devices", params={"size": "100", **params}, headers=admin)
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    mine = [d for d in demo.devices.values() if d.user_id == demo.user_id]
    target = mine[3]
    assert ids(id=f"startswith:{target.id[:8].upper()}") == {target.id}
    assert ids(id=target.id) == {target.id} and ids(id=target.id[:8]) == set()
    assert ids(client_id=target.client_id) == {target.id}
    assert ids(status="locked") == {d.id for d in mine if d.status == "locked"}
    assert ids(status='oneof:["active","locked"]') == {d.id for d in mine if d.status in ("active", "locked")}
    assert ids(status="bogus") == set()
    assert ids(trusted_device="true") == {d.id for d in mine if d.trusted_device}
    assert ids(failed_auth_attempts="gte:1") == {d.id for d in mine if d.failed_auth_attempts >= 1}
    assert ids(expires="isnull:") == {d.id for d in mine if d.expires is None}
    assert ids(hostname="ignored") == {d.id for d in mine}
    r = http.get("/api/v1/devices", params={"status": "oneof:locked"}, headers=admin)
    assert "json formatted list" in detail_list(r, 422, "ValueError")


def test_filter_errors_match_the_real_server(http: httpx.Client, demo: DemoServer) -> None:
    admin = bearer(admin_token(http, demo))

    def get(**params: str) -> httpx.Response:
        return http.get("/api/v1/devices", params=params, headers=admin)

    message = detail_list(get(trusted_device="gt:x"), 422, "ValueError")
    assert message.startswith("2 validation errors for OAuthDeviceFilter\noperation\n  Value error, This datatype")
    assert "\nvalue\n  Value error, The bool filter only works with boolean values." in message
    message = detail_list(get(failed_auth_attempts="gte:x"), 422, "ValueError")
    assert "The int filter only works with integer values. [type=value_error, input_value={'sort_by': " in message
    message = detail_list(get(expires="gte:tomorrow"), 422, "ValueError")
    assert "only works with values in the following format: %Y-%m-%d %H:%M:%S" in message
    # ``user`` is only read when the query runs: after the token check, and as a 400.
    assert detail_list(get(user="isnotnull:x"), 400, "ValueError").startswith("When using 'isnull:'/'isnotnull:'")
    assert http.get("/api/v1/devices", params={"user": "isnotnull:x"}).status_code == 401
    message = detail_list(get(id="gt:x"), 400, "ValueError")
    assert message == (
        "Failed to compare the column 'auth_devices.id' to the value 'x' (must be numeric): "
        "could not convert string to float: 'x'"
    )
    assert get(expires='oneof:["2026-01-01 00:00:00"]').status_code == 500  # the real server crashes too


# ----------------------------------------------------------------------------- seed data


def test_seed_fleet_is_realistic(demo: DemoServer, clock: FakeClock) -> None:
    mine = [d for d in demo.devices.values() if d.user_id == demo.user_id]
    assert 20 <= len(mine) <= 30
    statuses = Counter(d.status for d in mine)
    assert set(statuses) == {"pending", "verified", "active", "locked"}
    assert statuses["active"] > len(mine) / 2
    assert {d.os for d in mine} == {"Linux", "Darwin", "Windows"}
    assert {d.trusted_device for d in mine} == {True, False}
    assert any(d.failed_auth_attempts == 2 for d in mine)
    now = clock.now()
    assert any(d.status == "active" and d.expires is not None and d.expires < now for d in mine)
    assert any(d.expires is None for d in mine) and any(d.expires is not None and d.expires > now for d in mine)
    assert {"ada-macbook-pro", "gpu-box-a100-3", "ci-runner-17", "kubeflow-train-2"} <= {d.hostname for d in mine}
    assert {("Berlin", "DE"), ("Munich", "DE"), ("San Francisco", "US"), ("London", "GB"), ("Bangalore", "IN")} <= {
        (d.city, d.country) for d in mine
    }
    assert any(d.city == "" for d in mine)
    assert len({d.last_login for d in mine}) > len(mine) / 2
    assert all(d.created <= d.updated <= now for d in mine)


def test_seed_is_deterministic() -> None:
    def snapshot(demo: DemoServer) -> list[tuple[Any, ...]]:
        return [(d.id, d.hostname, d.status, d.last_login) for d in demo.devices.values()]

    a = snapshot(DemoServer(clock=FakeClock().now, rng_seed=7))
    assert a == snapshot(DemoServer(clock=FakeClock().now, rng_seed=7))
    assert a != snapshot(DemoServer(clock=FakeClock().now, rng_seed=8))


def test_no_seed_means_no_devices() -> None:
    assert DemoServer(seed=False).devices == {}


def test_ten_thousand_devices(clock: FakeClock) -> None:
    demo = DemoServer(clock=clock.now, device_count=10_000, live=False)
    assert len(demo.devices) == 10_000
    assert len({d.hostname for d in demo.devices.values()}) == 10_000
    assert all(d.user_id == demo.user_id for d in demo.devices.values())
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as http:
        page = http.get("/api/v1/devices", params={"size": 10_000}, headers=bearer(demo.password_token())).json()
    assert page["total"] == len(page["items"]) == 10_000


# ----------------------------------------------------------------------------- live changes


def test_live_changes_follow_the_clock(clock: FakeClock) -> None:
    demo = DemoServer(clock=clock.now, auto_approve_after=None, live=True)
    token = bearer(demo.password_token())
    before = len(demo.devices)
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as http:
        def logins_now() -> list[str]:
            http.get("/api/v1/devices", headers=token)
            return [d.id for d in demo.devices.values() if d.last_login == clock.now()]

        clock.advance(4)
        assert logins_now() == []
        clock.advance(1)
        touched = logins_now()
        assert len(touched) == 1 and demo.devices[touched[0]].status == "active"
        assert demo.devices[touched[0]].updated == clock.now()
        assert logins_now() == touched  # no second step until another 5 s have passed
        for _ in range(5):
            clock.advance(5)
            http.get("/api/v1/devices", headers=token)
        assert len(demo.devices) == before + 1  # every sixth step a device signs in
        newcomer = list(demo.devices.values())[-1]
        assert (newcomer.status, newcomer.created, newcomer.user_id) == ("active", clock.now(), demo.user_id)
        for _ in range(200):
            demo.tick()
        assert len(demo.devices) == before + 10  # growth is capped


def test_static_demo_does_not_change(clock: FakeClock) -> None:
    demo = DemoServer(clock=clock.now, live=False)
    token = bearer(demo.password_token())
    snapshot = [(d.id, d.last_login) for d in demo.devices.values()]
    with httpx.Client(transport=demo.transport, base_url=demo.base_url) as http:
        for _ in range(10):
            clock.advance(30)
            http.get("/api/v1/devices", headers=token)
    assert [(d.id, d.last_login) for d in demo.devices.values()] == snapshot


# ----------------------------------------------------------------------------- fault injection and helpers


def test_fail_next(http: httpx.Client, demo: DemoServer) -> None:
    demo.fail_next(
        503, {"detail": "down for maintenance"}, count=2, path_contains="/info", headers={"Retry-After": "7"}
    )
    assert http.get("/api/v1/version").status_code == 200  # does not match
    for _ in range(2):
        r = http.get("/api/v1/info")
        assert (r.status_code, r.json(), r.headers["retry-after"]) == (503, {"detail": "down for maintenance"}, "7")
    assert http.get("/api/v1/info").status_code == 200

    demo.fail_next(500)
    r = http.get("/health")
    assert r.status_code == 500 and r.json()["detail"] == "An unexpected error occurred."
    demo.fail_next(429, path_contains="/login")
    assert http.post("/api/v1/login", data={}).json() == {"detail": "Minute request limit exceeded."}
    demo.fail_next(502, "<html>bad gateway</html>")
    assert http.get("/health").text == "<html>bad gateway</html>"


def test_disconnect_next(http: httpx.Client, demo: DemoServer) -> None:
    demo.disconnect_next(path_contains="/info")
    with pytest.raises(httpx.ConnectError):
        http.get("/api/v1/info")
    assert http.get("/api/v1/info").status_code == 200


def test_in_process_helpers(http: httpx.Client, demo: DemoServer) -> None:
    device_id, token = demo.device_token(user_agent="Host/helper-box OS/Darwin", trusted=True)
    device = demo.devices[device_id]
    assert (device.status, device.hostname, device.trusted_device) == ("active", "helper-box", True)
    assert http.get("/api/v1/current-user", headers=bearer(token)).status_code == 200
    assert peek_claims(demo.password_token())["sub"] == demo.user_id
