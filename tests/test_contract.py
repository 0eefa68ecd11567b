"""The HTTP contract the app relies on, checked against the demo server and the real one.

Every test here runs twice through the ``server`` fixture: once against a fresh in-process
DemoServer and once against the session's real ZenML 0.98.0 server. Where the real server
and zenml-api.md disagree, the real server wins and these tests follow it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.realserver import RealServer, device_id_from_uri, jwt_claims
from tests.servers import ServerHandle

NAIVE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
TOKEN_KEYS = {
    "access_token", "token_type", "expires_in", "refresh_token", "csrf_token", "scope", "device_id",
    "device_metadata",
}
PAGE_KEYS = {"index", "max_size", "total_pages", "total", "items"}
UA = "Host/contract-host ZenML/0.98.0 Python/3.12.1 OS/Darwin"


# ----------------------------------------------------------------------------- shape checks


def assert_bare_array(r: httpx.Response, status: int = 422, cls: str = "ValueError") -> list[Any]:
    """The 422 request-validation shape: a JSON array ``[class, message]`` with no ``detail`` key."""
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list), body
    assert len(body) >= 2 and body[0] == cls and isinstance(body[1], str) and body[1], body
    return body


def assert_detail_list(r: httpx.Response, status: int, cls: str, contains: str = "") -> str:
    """The ``{"detail": [class, message]}`` shape; returns the message."""
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), list), body
    detail = body["detail"]
    assert len(detail) >= 2 and detail[0] == cls, body
    message = " ".join(str(x) for x in detail[1:])
    assert contains.lower() in message.lower(), (contains, message)
    return message


def assert_detail_str(r: httpx.Response, status: int, text: str) -> None:
    assert r.status_code == status, r.text
    assert r.json() == {"detail": text}


def assert_oauth_error(r: httpx.Response, code: str) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error", "error_description", "error_uri"}, body
    assert body["error"] == code, body
    assert isinstance(body["error_description"], str) and body["error_description"], body
    assert body["error_uri"] is None
    return body


def assert_naive_iso(value: Any, *, nullable: bool = False) -> None:
    if nullable and value is None:
        return
    assert isinstance(value, str) and NAIVE_ISO.match(value), f"not a naive ISO datetime: {value!r}"


async def start(server: ServerHandle, client_id: str | None = None, ua: str = UA) -> tuple[str, str, dict]:
    """Start a device login: ``(client_id, device_id, authorization response)``."""
    client_id = client_id or str(uuid.uuid4())
    r = await server.start_device_login(client_id, ua)
    assert r.status_code == 200, r.text
    auth = r.json()
    return client_id, device_id_from_uri(auth["verification_uri_complete"]), auth


async def get_device(server: ServerHandle, device_id: str, token: str, **params: Any) -> httpx.Response:
    return await server.request("GET", f"/api/v1/devices/{device_id}", token=token, params=params)


async def whoami(server: ServerHandle, token: str) -> httpx.Response:
    return await server.request("GET", "/api/v1/current-user", token=token)


# ----------------------------------------------------------------------------- server info


async def test_info_shape(server: ServerHandle) -> None:
    r = await server.request("GET", "/api/v1/info")
    assert r.status_code == 200
    info = r.json()
    assert info["version"] == "0.98.0"
    assert info["auth_scheme"] == "OAUTH2_PASSWORD_BEARER"
    assert info["active"] is True
    uuid.UUID(info["id"])
    for key in ("name", "deployment_type", "server_url", "dashboard_url"):
        assert isinstance(info[key], str), (key, info)
    # No dashboard or server URL configured: empty strings, not null (see the relative URIs below).
    assert info["server_url"] == "" and info["dashboard_url"] == ""


# ----------------------------------------------------------------------------- device authorization


async def test_device_authorization_response(server: ServerHandle) -> None:
    client_id, device_id, auth = await start(server)
    assert set(auth) == {
        "device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval",
    }
    assert HEX64.match(auth["device_code"]) and HEX32.match(auth["user_code"]), auth
    assert auth["verification_uri"] == "/devices/verify"
    complete = auth["verification_uri_complete"]
    assert complete == f"/devices/verify?device_id={device_id}&user_code={auth['user_code']}"
    uuid.UUID(device_id)
    for key in ("expires_in", "interval"):
        assert type(auth[key]) is int and auth[key] > 0, (key, auth[key])
    assert auth["expires_in"] == 300
    # A second request for another client id is another device with other codes.
    _, other_id, other = await start(server)
    assert other_id != device_id and other["device_code"] != auth["device_code"]


async def test_device_authorization_rejects_bad_client_id(server: ServerHandle) -> None:
    assert_bare_array(await server.start_device_login("not-a-uuid"))
    r = await server.request("POST", "/api/v1/device_authorization", json={"client_id": str(uuid.uuid4())})
    assert_bare_array(r)
    r = await server.request("POST", "/api/v1/device_authorization", data={})
    assert_bare_array(r)


# ----------------------------------------------------------------------------- polling


async def test_poll_pending_approve_token_then_expired(server: ServerHandle) -> None:
    client_id, device_id, auth = await start(server)
    body = assert_oauth_error(await server.poll(client_id, auth["device_code"]), "authorization_pending")
    assert client_id in body["error_description"]

    r = await server.approve(device_id, auth["user_code"])
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["id"] == device_id and approved["body"]["status"] == "verified"
    admin_id = (await whoami(server, await server.admin_token())).json()["id"]
    assert approved["body"]["user_id"] == admin_id

    r = await server.poll(client_id, auth["device_code"])
    assert r.status_code == 200, r.text
    tok = r.json()
    assert set(tok) == TOKEN_KEYS
    assert tok["token_type"] == "bearer"
    assert tok["device_id"] is None and tok["refresh_token"] is None and tok["expires_in"] is None
    claims = jwt_claims(tok["access_token"])
    assert claims["device_id"] == device_id and claims["sub"] == admin_id
    assert "exp" not in claims

    me = await whoami(server, tok["access_token"])
    assert me.status_code == 200 and me.json()["id"] == admin_id
    r = await get_device(server, device_id, tok["access_token"])
    assert r.json()["body"]["status"] == "active"

    assert_oauth_error(await server.poll(client_id, auth["device_code"]), "expired_token")


async def test_poll_errors(server: ServerHandle) -> None:
    assert_oauth_error(await server.poll(str(uuid.uuid4()), "0" * 64), "invalid_client")
    r = await server.request(
        "POST", "/api/v1/login",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": str(uuid.uuid4())},
    )
    assert_detail_str(r, 400, "Invalid request: device code and client ID are required.")
    r = await server.request(
        "POST", "/api/v1/login",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": "nope",
              "device_code": "0" * 64},
    )
    assert_detail_str(r, 400, "Invalid request: invalid client ID.")


async def test_verify_errors(server: ServerHandle) -> None:
    _, device_id, auth = await start(server)
    r = await server.approve(device_id, "f" * 32)
    assert_detail_list(r, 400, "ValueError", "invalid user code")
    r = await server.approve(str(uuid.uuid4()), auth["user_code"])
    assert_detail_list(r, 404, "KeyError")
    r = await server.request("PUT", f"/api/v1/devices/{device_id}/verify", token=await server.admin_token(), json={})
    assert_bare_array(r)
    assert (await server.approve(device_id, auth["user_code"])).status_code == 200
    r = await server.approve(device_id, auth["user_code"])
    assert_detail_list(r, 400, "ValueError", "not pending verification")


async def test_three_wrong_user_codes_lock_the_request(server: ServerHandle) -> None:
    client_id, device_id, auth = await start(server)
    assert_detail_list(await server.approve(device_id, "0" * 32), 400, "ValueError", "invalid user code")
    assert_detail_list(await server.approve(device_id, "0" * 32), 400, "ValueError", "invalid user code")
    assert_detail_list(await server.approve(device_id, "0" * 32), 400, "ValueError", "device locked")
    # Now even the right code is refused, and polling says "locked".
    assert_detail_list(await server.approve(device_id, auth["user_code"]), 400, "ValueError", "not pending")
    body = assert_oauth_error(await server.poll(client_id, auth["device_code"]), "access_denied")
    assert "is locked" in body["error_description"]


async def test_three_wrong_device_codes_lock_a_verified_device(server: ServerHandle) -> None:
    client_id, device_id, auth = await start(server)
    assert (await server.approve(device_id, auth["user_code"])).status_code == 200
    for _ in range(2):
        body = assert_oauth_error(await server.poll(client_id, "0" * 64), "access_denied")
        assert "invalid device code" in body["error_description"]
    body = assert_oauth_error(await server.poll(client_id, "0" * 64), "access_denied")
    assert "locked" in body["error_description"]
    assert_oauth_error(await server.poll(client_id, auth["device_code"]), "access_denied")
    d = (await get_device(server, device_id, await server.admin_token())).json()
    assert d["body"]["status"] == "locked" and d["metadata"]["failed_auth_attempts"] == 3


async def test_expired_request_cannot_be_approved_and_polls_pending(server: ServerHandle) -> None:
    client_id, device_id, auth = await start(server)
    await server.expire_device(device_id)
    # Status is checked before expiry: an expired pending request still answers "pending".
    assert_oauth_error(await server.poll(client_id, auth["device_code"]), "authorization_pending")
    r = await server.approve(device_id, auth["user_code"])
    assert_detail_list(r, 400, "ValueError", "device verification expired")


async def test_user_agent_fields_are_stored(server: ServerHandle) -> None:
    dev = await server.device_login(user_agent="Host/ua-host ZenML/0.98.0 Python/3.12.1 OS/Darwin extra/ignored")
    r = await get_device(server, dev.id, await server.admin_token())
    assert r.status_code == 200
    d = r.json()
    assert d["body"]["hostname"] == "ua-host" and d["body"]["os"] == "Darwin"
    assert d["metadata"]["python_version"] == "3.12.1" and d["metadata"]["zenml_version"] == "0.98.0"
    assert d["body"]["ip_address"] == "127.0.0.1" or server.kind == "demo"

    plain = await server.device_login(user_agent="python-httpx/0.28")
    p = (await get_device(server, plain.id, await server.admin_token())).json()
    assert p["body"]["hostname"] is None and p["body"]["os"] is None
    assert p["metadata"]["python_version"] is None and p["metadata"]["zenml_version"] is None


# ----------------------------------------------------------------------------- list


async def test_list_empty_for_new_user(server: ServerHandle) -> None:
    token = await server.new_user_token()
    r = await server.request("GET", "/api/v1/devices", token=token)
    assert r.status_code == 200
    assert r.json() == {"index": 1, "max_size": 20, "total_pages": 1, "total": 0, "items": []}


async def test_list_envelope_and_paging(server: ServerHandle) -> None:
    token = await server.new_user_token()
    seeded = await server.seed_devices(3, token, hostname_prefix="page")
    r = await server.request("GET", "/api/v1/devices", token=token)
    assert r.status_code == 200
    page = r.json()
    assert set(page) == PAGE_KEYS
    assert (page["index"], page["max_size"], page["total_pages"], page["total"]) == (1, 20, 1, 3)
    assert {i["id"] for i in page["items"]} == {d.id for d in seeded}
    item = page["items"][0]
    assert set(item) >= {"id", "permission_denied", "body", "metadata", "resources"}
    assert item["metadata"] is None, "list items are not hydrated by default"
    assert item["resources"]["user"]["id"] == item["body"]["user_id"]

    r = await server.request("GET", "/api/v1/devices", token=token, params={"hydrate": "true", "size": 2})
    assert r.json()["items"][0]["metadata"] is not None

    seen = []
    for n in (1, 2, 3):
        r = await server.request("GET", "/api/v1/devices", token=token, params={"size": 1, "page": n})
        assert r.status_code == 200, r.text
        p = r.json()
        assert (p["index"], p["max_size"], p["total_pages"], p["total"], len(p["items"])) == (n, 1, 3, 3, 1)
        seen.append(p["items"][0]["id"])
    assert sorted(seen) == sorted(d.id for d in seeded)

    r = await server.request("GET", "/api/v1/devices", token=token, params={"size": 1, "page": 4})
    assert_detail_list(r, 400, "ValueError", "Invalid page 4")
    assert_bare_array(await server.request("GET", "/api/v1/devices", token=token, params={"size": 0}))
    assert_bare_array(await server.request("GET", "/api/v1/devices", token=token, params={"size": 10001}))
    r = await server.request("GET", "/api/v1/devices", token=token, params={"sort_by": "hostname"})
    assert_detail_list(r, 422, "ValueError", "sort by valid fields")


async def test_list_sort_by_created(server: ServerHandle) -> None:
    token = await server.new_user_token()
    seeded = await server.seed_devices(3, token, hostname_prefix="sort")
    ids = [d.id for d in seeded]
    r = await server.request("GET", "/api/v1/devices", token=token, params={"sort_by": "desc:created"})
    assert [i["id"] for i in r.json()["items"]] == ids[::-1]
    r = await server.request("GET", "/api/v1/devices", token=token, params={"sort_by": "asc:created"})
    assert [i["id"] for i in r.json()["items"]] == ids


# ----------------------------------------------------------------------------- get


async def test_get_device(server: ServerHandle) -> None:
    dev = await server.device_login()
    admin = await server.admin_token()
    r = await get_device(server, dev.id, admin)
    assert r.status_code == 200
    d = r.json()
    assert d["id"] == dev.id and d["permission_denied"] is False
    body, meta = d["body"], d["metadata"]
    assert body["client_id"] == dev.client_id and body["status"] == "active"
    assert body["expires"] is None and body["trusted_device"] is False
    assert meta is not None, "get hydrates by default"
    assert set(meta) >= {"python_version", "zenml_version", "city", "region", "country", "failed_auth_attempts",
                         "last_login"}
    assert meta["failed_auth_attempts"] == 0
    assert d["resources"]["user"]["name"] == server.admin_username

    r = await get_device(server, dev.id, admin, hydrate="false")
    assert r.json()["metadata"] is None
    assert_bare_array(await get_device(server, "not-a-uuid", admin))
    assert_detail_list(await get_device(server, str(uuid.uuid4()), admin), 404, "KeyError")


async def test_trusted_flag_is_stored(server: ServerHandle) -> None:
    dev = await server.device_login(trusted=True)
    r = await get_device(server, dev.id, await server.admin_token())
    assert r.json()["body"]["trusted_device"] is True


async def test_datetimes_are_naive_iso(server: ServerHandle) -> None:
    dev = await server.device_login()
    assert (await whoami(server, dev.token)).status_code == 200  # sets last_login
    d = (await get_device(server, dev.id, dev.token)).json()
    assert_naive_iso(d["body"]["created"])
    assert_naive_iso(d["body"]["updated"])
    assert_naive_iso(d["metadata"]["last_login"])
    assert_naive_iso(d["body"]["expires"], nullable=True)
    _, pending_id, auth = await start(server)
    r = await get_device(server, pending_id, dev.token, user_code=auth["user_code"])
    assert r.status_code == 200, r.text
    assert r.json()["body"]["status"] == "pending"
    assert_naive_iso(r.json()["body"]["expires"])


async def test_unclaimed_pending_device_needs_its_user_code(server: ServerHandle) -> None:
    _, device_id, auth = await start(server)
    admin = await server.admin_token()
    assert_detail_list(await get_device(server, device_id, admin), 404, "KeyError")
    assert_detail_list(await get_device(server, device_id, admin, user_code="0" * 32), 404, "KeyError")
    r = await get_device(server, device_id, admin, user_code=auth["user_code"])
    assert r.status_code == 200
    assert r.json()["body"]["user_id"] is None and r.json()["body"]["hostname"] == "contract-host"
    # Unclaimed pending devices are in nobody's list.
    r = await server.request("GET", "/api/v1/devices", token=admin, params={"size": 10000})
    assert device_id not in {i["id"] for i in r.json()["items"]}


# ----------------------------------------------------------------------------- lock, unlock, delete


async def test_lock_and_unlock(server: ServerHandle) -> None:
    dev = await server.device_login()
    admin = await server.admin_token()
    assert (await whoami(server, dev.token)).status_code == 200

    r = await server.request("PUT", f"/api/v1/devices/{dev.id}", token=admin, json={"locked": True})
    assert r.status_code == 200, r.text
    assert r.json()["body"]["status"] == "locked" and r.json()["metadata"] is not None

    r = await whoami(server, dev.token)
    msg = assert_detail_list(r, 401, "CredentialsNotValid", "is not active")
    assert dev.id in msg
    assert_oauth_error(await server.poll(dev.client_id, dev.device_code), "access_denied")

    r = await server.request("PUT", f"/api/v1/devices/{dev.id}", token=admin, json={"locked": False})
    assert r.status_code == 200 and r.json()["body"]["status"] == "active"
    assert (await whoami(server, dev.token)).status_code == 200

    r = await server.request("PUT", f"/api/v1/devices/{dev.id}", token=admin, json={"locked": "maybe"})
    assert_bare_array(r)
    r = await server.request("PUT", f"/api/v1/devices/{dev.id}", token=admin, json={})
    assert r.status_code == 200 and r.json()["body"]["status"] == "active", "an empty update changes nothing"


async def test_device_can_lock_itself(server: ServerHandle) -> None:
    dev = await server.device_login()
    r = await server.request("PUT", f"/api/v1/devices/{dev.id}", token=dev.token, json={"locked": True})
    assert r.status_code == 200 and r.json()["body"]["status"] == "locked"
    assert_detail_list(await whoami(server, dev.token), 401, "CredentialsNotValid", "is not active")


async def test_delete(server: ServerHandle) -> None:
    dev = await server.device_login()
    admin = await server.admin_token()
    r = await server.request("DELETE", f"/api/v1/devices/{dev.id}", token=admin)
    assert r.status_code == 200 and r.json() is None
    assert_detail_list(await whoami(server, dev.token), 401, "CredentialsNotValid")
    assert_detail_list(await server.request("DELETE", f"/api/v1/devices/{dev.id}", token=admin), 404, "KeyError")
    assert_detail_list(await get_device(server, dev.id, admin), 404, "KeyError")


async def test_unlock_of_pending_device_sets_active(server: ServerHandle) -> None:
    dev = await server.device_login()
    admin = await server.admin_token()
    _, same_id, auth = await start(server, dev.client_id)  # owned device back to pending
    assert same_id == dev.id
    r = await server.request("PUT", f"/api/v1/devices/{dev.id}", token=admin, json={"locked": False})
    assert r.status_code == 200 and r.json()["body"]["status"] == "active"
    # The flow in progress is over: its code now meets an active device.
    assert_oauth_error(await server.poll(dev.client_id, auth["device_code"]), "expired_token")
    # ... and the old token works again, since the device is active and still the same.
    assert (await whoami(server, dev.token)).status_code == 200


async def test_reauthorizing_a_client_id_resets_the_device(server: ServerHandle) -> None:
    dev = await server.device_login(user_agent="Host/first ZenML/0.98.0 Python/3.11.7 OS/Linux")
    admin = await server.admin_token()
    _, same_id, auth = await start(server, dev.client_id, ua="Host/second ZenML/0.98.0 Python/3.11.7 OS/Linux")
    assert same_id == dev.id, "same client id, same device"
    assert auth["device_code"] != dev.device_code

    d = (await get_device(server, dev.id, admin)).json()
    assert d["body"]["status"] == "pending" and d["body"]["hostname"] == "second"
    assert d["body"]["user_id"] is not None, "the device keeps its owner"
    assert d["body"]["expires"] is not None
    assert_detail_list(await whoami(server, dev.token), 401, "CredentialsNotValid", "is not active")

    assert (await server.approve(dev.id, auth["user_code"])).status_code == 200
    r = await server.poll(dev.client_id, auth["device_code"])
    assert r.status_code == 200
    new_token = r.json()["access_token"]
    assert jwt_claims(new_token)["device_id"] == dev.id
    assert (await whoami(server, new_token)).status_code == 200


async def test_reauthorizing_a_locked_device_makes_it_pending(server: ServerHandle) -> None:
    dev = await server.device_login()
    admin = await server.admin_token()
    await server.request("PUT", f"/api/v1/devices/{dev.id}", token=admin, json={"locked": True})
    await start(server, dev.client_id)
    d = (await get_device(server, dev.id, admin)).json()
    assert d["body"]["status"] == "pending"


async def test_other_users_devices_are_invisible(server: ServerHandle) -> None:
    dev = await server.device_login()
    other = await server.new_user_token()
    path = f"/api/v1/devices/{dev.id}"
    assert_detail_list(await server.request("GET", path, token=other), 404, "KeyError")
    assert_detail_list(await server.request("PUT", path, token=other, json={"locked": True}), 404, "KeyError")
    assert_detail_list(await server.request("DELETE", path, token=other), 404, "KeyError")
    r = await server.request("GET", "/api/v1/devices", token=other)
    assert dev.id not in {i["id"] for i in r.json()["items"]}
    # ... and the device is untouched.
    assert (await whoami(server, dev.token)).status_code == 200


async def test_device_owned_by_another_user_cannot_be_approved(server: ServerHandle) -> None:
    dev = await server.device_login()
    other = await server.new_user_token()
    _, _, auth = await start(server, dev.client_id)
    r = await server.approve(dev.id, auth["user_code"], token=other)
    assert_detail_list(r, 400, "ValueError", "associated with another user")


async def test_no_or_bad_token_is_401(server: ServerHandle) -> None:
    r = await server.request("GET", "/api/v1/devices")
    assert_detail_str(r, 401, "Not authenticated")
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
    r = await server.request("GET", "/api/v1/devices", token="not.a.jwt")
    assert_detail_list(r, 401, "CredentialsNotValid")


async def test_active_device_past_its_expiry_is_rejected(server: ServerHandle) -> None:
    dev = await server.device_login()
    await server.expire_device(dev.id)
    assert_detail_list(await whoami(server, dev.token), 401, "CredentialsNotValid", "has expired")


# ----------------------------------------------------------------------------- the fixture itself (real only)


@pytest.mark.realserver
def test_real_server_uses_cheap_bcrypt(real_server: RealServer) -> None:
    import sqlite3

    with sqlite3.connect(real_server.db_path) as db:
        (hashed,) = db.execute("SELECT password FROM user WHERE name = ?", (real_server.admin_username,)).fetchone()
    assert hashed.startswith("$2b$04$"), hashed[:7]


@pytest.mark.realserver
def test_real_server_seeded_devices_are_real_and_usable(real_server: RealServer) -> None:
    _, token = real_server.new_user_token()
    seeded = real_server.seed_devices(25, token, hostname_prefix="bulk")
    r = real_server.request("GET", "/api/v1/devices", token=token, params={"size": 100, "hydrate": True})
    items = r.json()["items"]
    assert r.json()["total"] == 25
    assert sorted(i["body"]["hostname"] for i in items) == [f"bulk-{i:03d}" for i in range(25)]
    assert {i["body"]["status"] for i in items} == {"active"}
    # A copied device's minted token is accepted like a real one, and only for that device.
    r = real_server.request("GET", "/api/v1/current-user", token=seeded[7].token)
    assert r.status_code == 200
    real_server.request("PUT", f"/api/v1/devices/{seeded[7].id}", token=token, json={"locked": True})
    assert real_server.request("GET", "/api/v1/current-user", token=seeded[7].token).status_code == 401
    assert real_server.request("GET", "/api/v1/current-user", token=seeded[8].token).status_code == 200
    # Minted and issued tokens carry the same claims.
    assert set(jwt_claims(seeded[0].token)) == set(jwt_claims(seeded[1].token))
