"""Unit tests of the existing core: errors, models, urls, text and the HTTP client (via httpx.MockTransport)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

import httpx
import pytest

from zenml_devices_tui.core import client as client_mod
from zenml_devices_tui.core.client import DEVICE_CODE_GRANT, ZenMLClient
from zenml_devices_tui.core.errors import (
    BadConfiguration,
    BadResponse,
    DeviceAuthNotSupported,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    OAuthError,
    RateLimited,
    RequestRejected,
    ServerError,
    Timeout,
    Unreachable,
    ZenMLError,
    error_for_status,
    parse_error_body,
    parse_retry_after,
)
from zenml_devices_tui.core.models import (
    Device,
    DeviceAuthorization,
    Page,
    ServerInfo,
    TokenResponse,
    User,
    parse_datetime,
)
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.text import clean, clean_line
from zenml_devices_tui.core.urls import (
    check_transport_security,
    is_loopback,
    normalize_server_url,
    verification_link,
)

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8237"
DEVICE_ID = "32112074-6bcb-42c0-9e83-162f9a6b470d"
USER_ID = "51988c8d-6f3e-4d2b-9d4f-0f7a4b2c8e11"
CLIENT_ID = "0b5cd299-2f6e-4d53-9a3c-0e8f1c7d2a11"

DEVICE_JSON: dict[str, Any] = {
    "body": {
        "created": "2026-12-03T15:53:10.894463",
        "updated": "2026-12-03T15:53:35.173574",
        "user_id": USER_ID,
        "client_id": CLIENT_ID,
        "expires": None,
        "trusted_device": True,
        "status": "active",
        "os": "Linux",
        "ip_address": "127.0.0.1",
        "hostname": "myhost",
    },
    "metadata": {
        "python_version": "3.11.7",
        "zenml_version": "0.98.0",
        "city": "",
        "region": "",
        "country": "",
        "failed_auth_attempts": 0,
        "last_login": "2026-12-03T15:53:35.173574",
    },
    "resources": {"user": {"body": {}, "metadata": None, "resources": None, "id": USER_ID,
                           "permission_denied": False, "name": "default"}},
    "id": DEVICE_ID,
    "permission_denied": False,
}


# ------------------------------------------------------------------ core imports no Textual


def test_core_imports_no_textual() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import zenml_devices_tui.core as core\n"
        "names = [m.name for m in pkgutil.iter_modules(core.__path__)]\n"
        "for n in names: importlib.import_module('zenml_devices_tui.core.' + n)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(len(names), bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[0]) >= 10  # every core module was imported


# ------------------------------------------------------------------ text


def test_clean_removes_control_and_bidi_characters() -> None:
    assert clean("a\x1b]8;;http://evil\x07b\x1b[31mc\u202ed\x9be\u200bf") == "a]8;;http://evilb[31mcdef"
    assert clean(None) == ""
    assert clean(42) == "42"


def test_clean_line_folds_whitespace_and_caps_length() -> None:
    assert clean_line("  a \n\t b\x00c  ") == "a b c"
    capped = clean_line("x" * 50, limit=10)
    assert capped == "x" * 9 + "…" and len(capped) == 10
    assert clean_line(None) == ""


# ------------------------------------------------------------------ secret


def test_secret_never_shows_its_value() -> None:
    s = Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.reveal() == "hunter2"
    assert Secret(s) == s and hash(Secret("hunter2")) == hash(s)
    with pytest.raises(TypeError):
        Secret(3)  # type: ignore[arg-type]
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(s)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"error": "authorization_pending", "error_description": "pending", "error_uri": None},
         (None, "pending", "authorization_pending")),
        ({"detail": ["CredentialsNotValid", "Authentication error: nope"]},
         ("CredentialsNotValid", "Authentication error: nope", None)),
        ({"detail": ["KeyError", "'Unable to get device'"]}, ("KeyError", "Unable to get device", None)),
        ({"detail": "Not authenticated"}, (None, "Not authenticated", None)),
        (["ValueError", "1 validation error"], ("ValueError", "1 validation error", None)),
        (["ValueError", "a", "b"], ("ValueError", "a: b", None)),
        (["only"], (None, "only", None)),
        ([], (None, None, None)),
        ({"detail": {"x": 1}}, (None, '{"x": 1}', None)),
        ("plain text", (None, "plain text", None)),
        (None, (None, None, None)),
        ({}, (None, None, None)),
    ],
)
def test_parse_error_body_shapes(body: Any, expected: tuple[Any, Any, Any]) -> None:
    parsed = parse_error_body(body)
    assert (parsed.error_class, parsed.message, parsed.oauth_error) == expected


@pytest.mark.parametrize(
    "status, body, kind",
    [
        (400, {"error": "slow_down"}, OAuthError),
        (401, {"detail": ["CredentialsNotValid", "expired"]}, NotAuthenticated),
        (403, {"detail": "Device authorization is not supported."}, DeviceAuthNotSupported),
        (403, {"detail": ["IllegalOperationError", "admins only"]}, NotAllowed),
        (404, {"detail": ["KeyError", "x"]}, NotFound),
        (409, {"detail": ["EntityExistsError", "exists"]}, RequestRejected),
        (422, ["ValueError", "bad uuid"], RequestRejected),
        (429, {"detail": "Minute request limit exceeded."}, RateLimited),
        (500, {"detail": "An unexpected error occurred."}, ServerError),
        (503, None, ServerError),
        (400, None, RequestRejected),
    ],
)
def test_error_for_status_maps_to_types(status: int, body: Any, kind: type) -> None:
    error = error_for_status(status, body)
    assert type(error) is kind
    assert error.message and "\n" not in error.message


def test_device_auth_not_supported_is_not_allowed() -> None:
    assert isinstance(error_for_status(403, {"detail": "Device authorization is not supported."}), NotAllowed)


def test_oauth_error_keeps_code_and_description() -> None:
    error = error_for_status(400, {"error": "access_denied", "error_description": "device is locked."})
    assert isinstance(error, OAuthError)
    assert error.code == "access_denied" and error.description == "device is locked."
    assert error.message == "device is locked." and error.status == 400


def test_rate_limited_carries_retry_after() -> None:
    error = error_for_status(429, {"detail": "Minute request limit exceeded."}, retry_after="12")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 12.0
    assert "12 s" in error.message
    assert error_for_status(429, None).retry_after is None


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), ("", None), ("5", 5.0), (" 7.5 ", 7.5), ("-3", 0.0), ("99999", 3600.0), ("nan", None),
     ("soon", None), ("inf", 3600.0)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    future = datetime.now(timezone.utc) + timedelta(seconds=120)
    got = parse_retry_after(format_datetime(future, usegmt=True))
    assert got is not None and 100 <= got <= 121
    assert parse_retry_after(format_datetime(datetime(2000, 1, 1, tzinfo=timezone.utc), usegmt=True)) == 0.0


def test_error_messages_are_one_clean_line() -> None:
    error = ZenMLError("bad\x1b[31m\nthing", detail="d\x00etail")
    assert error.message == "bad [31m thing"
    assert str(error) == error.message
    assert error.detail == "d etail"
    assert NotAuthenticated().message == NotAuthenticated.default_message


# ------------------------------------------------------------------ models


def test_parse_datetime_makes_aware_utc() -> None:
    assert parse_datetime("2026-12-03T15:53:10.894463") == datetime(2026, 12, 3, 15, 53, 10, 894463,
                                                                    tzinfo=timezone.utc)
    assert parse_datetime("2026-12-03T15:53:10Z") == datetime(2026, 12, 3, 15, 53, 10, tzinfo=timezone.utc)
    assert parse_datetime("2026-12-03T17:53:10+02:00") == datetime(2026, 12, 3, 15, 53, 10, tzinfo=timezone.utc)
    for bad in (None, "", "yesterday", 12345):
        assert parse_datetime(bad) is None


def test_device_from_observed_json() -> None:
    device = Device.from_json(DEVICE_JSON)
    assert device.id == DEVICE_ID and device.short_id == "32112074"
    assert device.status == "active" and not device.locked
    assert device.user_id == USER_ID and device.user_name == "default"
    assert device.client_id == CLIENT_ID
    assert device.hostname == "myhost" and device.os == "Linux" and device.ip_address == "127.0.0.1"
    assert device.python_version == "3.11.7" and device.zenml_version == "0.98.0"
    assert device.failed_auth_attempts == 0
    assert device.last_login == datetime(2026, 12, 3, 15, 53, 35, 173574, tzinfo=timezone.utc)
    assert device.expires is None and device.trusted_device is True
    assert device.hydrated is True
    assert device.location == ""


def test_device_unhydrated_and_expiry_display() -> None:
    data = json.loads(json.dumps(DEVICE_JSON))
    data["metadata"] = None
    data["body"]["expires"] = "2026-12-03T16:00:00"
    data["body"]["status"] = "ACTIVE"
    data["body"]["hostname"] = "evil\x1b]52;c;aGk=\x07host"
    device = Device.from_json(data)
    assert device.hydrated is False and device.python_version is None
    assert device.status == "active"
    assert device.hostname == "evil]52;c;aGk=host"
    before = datetime(2026, 12, 3, 15, 0, tzinfo=timezone.utc)
    after = datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc)
    assert device.display_status(before) == "active"
    assert device.display_status(after) == "expired"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("id"),
        lambda d: d.__setitem__("id", "not-a-uuid"),
        lambda d: d["body"].pop("status"),
    ],
)
def test_device_missing_required_fields_is_bad_response(mutate: Callable[[dict[str, Any]], Any]) -> None:
    data = json.loads(json.dumps(DEVICE_JSON))
    mutate(data)
    with pytest.raises(BadResponse):
        Device.from_json(data)


def test_device_from_non_object_is_bad_response() -> None:
    with pytest.raises(BadResponse):
        Device.from_json([1, 2])


def test_page_envelope() -> None:
    page = Page.from_json({"index": 1, "max_size": 20, "total_pages": 0, "total": 1, "items": [DEVICE_JSON]})
    assert page.total_pages == 1 and page.total == 1 and len(page.items) == 1
    with pytest.raises(BadResponse):
        Page.from_json({"index": 1})


def test_server_info() -> None:
    info = ServerInfo.from_json({"id": "ade5fb99-6c1e-4d2b-9d4f-0f7a4b2c8e11", "name": "default", "version": "0.98.0",
                                 "auth_scheme": "OAUTH2_PASSWORD_BEARER", "server_url": "", "dashboard_url": "",
                                 "deployment_type": "other", "active": True})
    assert info.supports_device_login and info.server_url is None and info.dashboard_url is None
    assert not ServerInfo.from_json({"version": "0.98.0", "auth_scheme": "NO_AUTH"}).supports_device_login
    with pytest.raises(BadResponse):
        ServerInfo.from_json({"hello": "world"})


def test_user() -> None:
    user = User.from_json({"id": USER_ID, "name": "default", "body": {"full_name": "Dee Fault", "is_admin": True}})
    assert user.display_name == "Dee Fault" and user.is_admin


OBSERVED_AUTH = {
    "device_code": "f25d78101ae885e57404f9ecfe14b9604aa42b749c4a27aab176ca7e68a8e6cc",
    "user_code": "edc6b60912983b363ad5f0b35deb7ada",
    "verification_uri": "/devices/verify",
    "verification_uri_complete": f"/devices/verify?device_id={DEVICE_ID}&user_code=edc6b60912983b363ad5f0b35deb7ada",
    "expires_in": 300,
    "interval": 5,
}


def test_device_authorization_from_observed_json() -> None:
    auth = DeviceAuthorization.from_json(OBSERVED_AUTH)
    assert isinstance(auth.device_code, Secret)
    assert auth.device_code.reveal() == OBSERVED_AUTH["device_code"]
    assert OBSERVED_AUTH["device_code"] not in repr(auth)
    assert auth.expires_in == 300 and auth.interval == 5
    assert DeviceAuthorization.from_json({**OBSERVED_AUTH, "interval": None}).interval is None


@pytest.mark.parametrize(
    "change",
    [
        {"device_code": ""},
        {"device_code": None},
        {"expires_in": "300"},
        {"expires_in": True},
        {"interval": "5"},
        {"user_code": None},
        {"verification_uri": 5},
        {"expires_in": float("inf")},
        {"expires_in": float("nan")},
        {"interval": float("inf")},
        {"interval": float("nan")},
    ],
)
def test_device_authorization_rejects_bad_fields(change: dict[str, Any]) -> None:
    with pytest.raises(BadResponse):
        DeviceAuthorization.from_json({**OBSERVED_AUTH, **change})


def test_token_response() -> None:
    token = TokenResponse.from_json({"access_token": "jwt", "token_type": "bearer", "expires_in": None,
                                     "refresh_token": None, "device_id": None})
    assert token.access_token == Secret("jwt") and token.expires_in is None
    assert "jwt" not in repr(token)
    assert TokenResponse.from_json({"access_token": "jwt", "expires_in": 0}).expires_in is None
    assert TokenResponse.from_json({"access_token": "jwt", "expires_in": 86399}).expires_in == 86399
    with pytest.raises(BadResponse):
        TokenResponse.from_json({"access_token": "jwt", "token_type": "mac"})
    with pytest.raises(BadResponse):
        TokenResponse.from_json({"token_type": "bearer"})


# ------------------------------------------------------------------ urls


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("127.0.0.1:8237", "http://127.0.0.1:8237"),
        ("localhost:8237/", "http://localhost:8237"),
        ("[::1]:8237", "http://[::1]:8237"),
        ("zenml.example.com", "https://zenml.example.com"),
        ("zenml.example.com:443", "https://zenml.example.com"),
        ("HTTPS://ZenML.Example.com:8443//zenml//api/v1/?x=1#f", "https://zenml.example.com:8443/zenml"),
        ("http://example.com:80/", "http://example.com"),
        ("  https://example.com/prefix/  ", "https://example.com/prefix"),
    ],
)
def test_normalize_server_url(raw: str, expected: str) -> None:
    assert normalize_server_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "ftp://example.com", "https://user:pw@example.com", "https://exa mple.com", "https://example.com:99999",
     "http://", "https://ex\x1bample.com"],
)
def test_normalize_server_url_rejects(raw: str) -> None:
    with pytest.raises(BadConfiguration):
        normalize_server_url(raw)


def test_transport_security() -> None:
    check_transport_security("http://127.0.0.1:8237", insecure=False)
    check_transport_security("https://example.com", insecure=False)
    check_transport_security("http://example.com", insecure=True)
    with pytest.raises(BadConfiguration):
        check_transport_security("http://example.com", insecure=False)
    assert is_loopback("http://localhost:1") and is_loopback("http://[::1]:1") and not is_loopback("http://a.b")


def test_verification_link_relative_and_doubled() -> None:
    q = f"?device_id={DEVICE_ID}&user_code=abc"
    for uri in (f"/devices/verify{q}", f"//devices/verify{q}", f"{BASE}//devices/verify{q}"):
        link = verification_link(BASE, "/devices/verify", uri)
        assert link.url == f"{BASE}/devices/verify{q}"
        assert link.device_id == DEVICE_ID
        assert link.host_differs is False


def test_verification_link_other_host_is_flagged() -> None:
    link = verification_link(BASE, "/x", "https://dashboard.example.com/devices/verify?device_id=a&user_code=b")
    assert link.host_differs is True
    assert link.url.startswith("https://dashboard.example.com/")


def test_verification_link_falls_back_to_the_plain_uri() -> None:
    assert verification_link(BASE, "/devices/verify", None).url == f"{BASE}/devices/verify"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "", "https://",
                                 "https://a.b/x y"])
def test_verification_link_refuses_non_http(bad: str) -> None:
    with pytest.raises(BadResponse):
        verification_link(BASE, bad, bad)


# ------------------------------------------------------------------ client


Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **kw: Any) -> ZenMLClient:
    return ZenMLClient(BASE, transport=httpx.MockTransport(handler), **kw)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_start_device_authorization_sends_a_form_and_the_user_agent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OBSERVED_AUTH)

    async with make_client(handler, token=Secret("tok")) as client:
        auth = await client.start_device_authorization(CLIENT_ID, "Host/box ZenML/unknown Python/3.11 OS/Linux")
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/api/v1/device_authorization"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(request) == {"client_id": CLIENT_ID}
    assert request.headers["user-agent"] == "Host/box ZenML/unknown Python/3.11 OS/Linux"
    assert "authorization" not in request.headers  # unauthenticated endpoint: the token is not sent
    assert auth.user_code == OBSERVED_AUTH["user_code"]


async def test_poll_device_token_sends_the_device_grant() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "jwt", "token_type": "bearer", "expires_in": None})

    async with make_client(handler) as client:
        token = await client.poll_device_token(CLIENT_ID, Secret("the-device-code"))
    assert seen[0].url.path == "/api/v1/login"
    assert form(seen[0]) == {"grant_type": DEVICE_CODE_GRANT, "client_id": CLIENT_ID,
                             "device_code": "the-device-code"}
    assert "authorization" not in seen[0].headers
    assert token.access_token.reveal() == "jwt"


async def test_poll_oauth_error_becomes_oauth_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "authorization_pending", "error_description": "pending",
                                         "error_uri": None})

    async with make_client(handler) as client:
        with pytest.raises(OAuthError) as info:
            await client.poll_device_token(CLIENT_ID, Secret("code"))
    assert info.value.code == "authorization_pending"


async def test_authenticated_calls_send_the_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=DEVICE_JSON)

    async with make_client(handler, token=Secret("tok")) as client:
        await client.get_device(DEVICE_ID)
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert seen[0].url.params["hydrate"] == "true"


async def test_no_token_means_no_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=DEVICE_JSON)

    async with make_client(handler) as client:
        with pytest.raises(NotAuthenticated):
            await client.get_device(DEVICE_ID)
    assert seen == []


async def test_list_devices_follows_pages_and_drops_repeats() -> None:
    def device(i: int) -> dict[str, Any]:
        d = json.loads(json.dumps(DEVICE_JSON))
        d["id"] = f"00000000-0000-4000-8000-{i:012d}"
        return d

    pages = {1: [device(1), device(2)], 2: [device(2), device(3)]}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        n = int(request.url.params["page"])
        return httpx.Response(200, json={"index": n, "max_size": 2, "total_pages": 2, "total": 4, "items": pages[n]})

    async with make_client(handler, token=Secret("t"), page_size=2) as client:
        devices = await client.list_devices()
    assert [d.id[-1] for d in devices] == ["1", "2", "3"]
    assert [r.url.params["page"] for r in seen] == ["1", "2"]
    assert seen[0].url.params["sort_by"] == "desc:created" and seen[0].url.params["hydrate"] == "true"


async def test_list_devices_stops_at_max_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_mod, "MAX_PAGES", 3)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        d = json.loads(json.dumps(DEVICE_JSON))
        d["id"] = f"00000000-0000-4000-8000-{len(calls):012d}"
        return httpx.Response(200, json={"index": 1, "max_size": 1, "total_pages": 10**6, "total": 10**6,
                                         "items": [d]})

    async with make_client(handler, token=Secret("t")) as client:
        assert len(await client.list_devices()) == 3
    assert len(calls) == 3


async def test_lock_unlock_delete_requests() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "DELETE":
            return httpx.Response(200, json=None)
        return httpx.Response(200, json=DEVICE_JSON)

    async with make_client(handler, token=Secret("t")) as client:
        await client.lock_device(DEVICE_ID)
        await client.unlock_device(DEVICE_ID)
        await client.delete_device(DEVICE_ID)
    assert [(r.method, r.url.path) for r in seen] == [("PUT", f"/api/v1/devices/{DEVICE_ID}")] * 2 + [
        ("DELETE", f"/api/v1/devices/{DEVICE_ID}")]
    assert [json.loads(r.content) for r in seen[:2]] == [{"locked": True}, {"locked": False}]


async def test_device_ids_cannot_escape_the_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=DEVICE_JSON)

    async with make_client(handler, token=Secret("t")) as client:
        await client.get_device("../../users/x?y=1")
        with pytest.raises(BadConfiguration):
            await client.get_device("/../")
    assert seen[0].url.path == "/api/v1/devices/usersxy1"
    assert len(seen) == 1


@pytest.mark.parametrize(
    "response, kind",
    [
        (httpx.Response(401, json={"detail": ["CredentialsNotValid", "x"]}), NotAuthenticated),
        (httpx.Response(404, json={"detail": ["KeyError", "x"]}), NotFound),
        (httpx.Response(429, json={"detail": "Minute request limit exceeded."}, headers={"Retry-After": "30"}),
         RateLimited),
        (httpx.Response(502, text="<html>bad gateway</html>"), ServerError),
        (httpx.Response(200, text="<html>not json</html>"), BadResponse),
        (httpx.Response(302, headers={"Location": "https://login.example.com"}), BadResponse),
        (httpx.Response(200, json={"unexpected": True}), BadResponse),
        (httpx.Response(200, stream=httpx.ByteStream(b"not gzip"), headers={"Content-Encoding": "gzip"}),
         BadResponse),
    ],
)
async def test_failures_become_typed_errors(response: httpx.Response, kind: type) -> None:
    async with make_client(lambda request: response, token=Secret("t")) as client:
        with pytest.raises(kind) as info:
            await client.get_device(DEVICE_ID)
    assert info.value.message
    if kind is RateLimited:
        assert info.value.retry_after == 30.0


@pytest.mark.parametrize(
    "exc, kind",
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), Unreachable),
        (httpx.ConnectTimeout("timed out"), Timeout),
        (httpx.ReadTimeout("timed out"), Timeout),
        (httpx.RemoteProtocolError("Server disconnected"), Unreachable),
    ],
)
async def test_transport_failures_become_unreachable(exc: Exception, kind: type) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with make_client(handler) as client:
        with pytest.raises(kind) as info:
            await client.info()
    assert BASE in info.value.message


async def test_connection_refused_is_explained() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    async with make_client(handler) as client:
        with pytest.raises(Unreachable) as info:
            await client.info()
    assert "is the server running" in info.value.message


async def test_oversized_body_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_mod, "MAX_BODY_BYTES", 100)

    async with make_client(lambda r: httpx.Response(200, content=b"[" + b"1," * 200 + b"1]")) as client:
        with pytest.raises(BadResponse):
            await client.info()


async def test_a_header_that_cannot_be_sent_is_a_typed_error() -> None:
    async with make_client(lambda r: httpx.Response(200, json=OBSERVED_AUTH)) as client:
        with pytest.raises(ZenMLError):
            await client.start_device_authorization(CLIENT_ID, "Host/Jörg")


async def test_infinite_numbers_in_a_device_authorization_are_bad_response() -> None:
    body = json.dumps(OBSERVED_AUTH).replace('"expires_in": 300', '"expires_in": Infinity').encode()
    async with make_client(lambda r: httpx.Response(200, content=body)) as client:
        with pytest.raises(BadResponse):
            await client.start_device_authorization(CLIENT_ID, "ua")


def test_client_repr_hides_the_token() -> None:
    client = make_client(lambda r: httpx.Response(200), token=Secret("super-secret-token"))
    assert "super-secret-token" not in repr(client)
    assert client.base_url == BASE


def test_missing_ca_bundle_is_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(BadConfiguration):
        ZenMLClient(BASE, verify=str(tmp_path / "missing.pem"))
