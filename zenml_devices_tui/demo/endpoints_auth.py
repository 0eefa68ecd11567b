"""Server info and sign-in endpoints: ``/health``, ``/info``, ``/version``, ``/device_authorization``,
``/login`` and ``/current-user``."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from zenml_devices_tui.demo import errors
from zenml_devices_tui.demo.routing import Call
from zenml_devices_tui.demo.serialize import iso, user_json
from zenml_devices_tui.demo.store import UserAgentDetails
from zenml_devices_tui.demo.validate import FieldError, form_fields, parse_uuid

SERVER_VERSION = "0.98.0"
SERVER_NAME = "demo"
CLIENT_IP = "127.0.0.1"  # MockTransport has no peer address; uvicorn on loopback reports this
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("password", DEVICE_CODE_GRANT, "zenml-external", "zenml-api-key")


DASHBOARD_PAGE = (
    "<!doctype html>\n<html lang=\"en\">\n"
    "<head><meta charset=\"UTF-8\" /><title>ZenML Dashboard</title></head>\n"
    "<body><div id=\"root\">zenml-devices demo server: there is no dashboard here; device logins are "
    "approved automatically.</div></body>\n</html>\n"
)


def health(call: Call) -> httpx.Response:
    return httpx.Response(200, text="ok")


def unknown_api_path(call: Call) -> httpx.Response:
    """Any other GET under ``/api/``: FastAPI's plain 404."""
    raise errors.http_exception(404, "Not Found")


def dashboard(call: Call) -> httpx.Response:
    """Every other GET path is the dashboard's single-page app (e.g. ``/devices/verify``)."""
    return httpx.Response(200, html=DASHBOARD_PAGE)


def version(call: Call) -> httpx.Response:
    return httpx.Response(200, json=SERVER_VERSION)


def info(call: Call) -> httpx.Response:
    """``ServerModel`` of an OSS server with the default configuration."""
    return httpx.Response(
        200,
        json={
            "id": call.backend.server_id,
            "name": SERVER_NAME,
            "version": SERVER_VERSION,
            "active": True,
            "debug": False,
            "deployment_type": "other",
            "database_type": "sqlite",
            "secrets_store_type": "sql",
            "auth_scheme": "OAUTH2_PASSWORD_BEARER",
            "server_url": "",
            "dashboard_url": "",
            "analytics_enabled": False,
            "metadata": {},
            "last_user_activity": iso(call.now),
            "pro_dashboard_url": None,
            "pro_api_url": None,
            "pro_organization_id": None,
            "pro_organization_name": None,
            "pro_workspace_id": None,
            "pro_workspace_name": None,
        },
    )


def device_authorization(call: Call) -> httpx.Response:
    """Start the device flow for a ``client_id`` (form field); details come from the User-Agent."""
    form = form_fields(call.request)
    if "client_id" not in form:
        raise errors.request_validation_error(
            "POST /api/v1/device_authorization", errors.missing(("body", "client_id"))
        )
    try:
        client_id = parse_uuid(form["client_id"])
    except FieldError as exc:
        raise errors.request_validation_error(
            "POST /api/v1/device_authorization", exc.at("body", "client_id")
        ) from None
    details = UserAgentDetails.decode(call.request.headers.get("user-agent"))
    settings = call.backend.settings
    device = call.backend.store.authorize(client_id, details, CLIENT_IP, call.now)
    verification_uri = "/devices/verify"
    query = urlencode({"device_id": device.id, "user_code": device.user_code})
    return httpx.Response(
        200,
        json={
            "device_code": device.device_code,
            "user_code": device.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?{query}",
            "expires_in": settings.device_auth_timeout,
            "interval": settings.polling_interval,
        },
    )


def login(call: Call) -> httpx.Response:
    """The token endpoint: password grant or device-code grant (``OAuthLoginRequestForm`` rules)."""
    form = form_fields(call.request)
    grant_type = form.get("grant_type") or _guess_grant(form)
    if grant_type not in GRANT_TYPES:
        raise errors.http_exception(400, f"Unsupported grant type: {grant_type}")
    auth = call.backend.auth
    if grant_type == "password":
        username = form.get("username")
        if not username:
            raise errors.http_exception(400, "Invalid request: username is required.")
        user = auth.password_login(username, form.get("password") or "")
        response = httpx.Response(200, json=auth.token_response(user, call.now))
        token = response.json()["access_token"]
        response.headers["set-cookie"] = f"{auth.cookie_name}={token}; HttpOnly; Path=/; SameSite=lax"
        return response
    if grant_type == DEVICE_CODE_GRANT:
        return _device_code_grant(call, form)
    if grant_type == "zenml-api-key":
        if not form.get("password"):
            raise errors.http_exception(400, "API key is required.")
        raise errors.credentials_error("error decoding API key")
    raise errors.http_exception(400, f"Unsupported grant type: {grant_type}.")  # zenml-external


def _guess_grant(form: dict[str, str]) -> str:
    if "username" in form:
        return "password"
    if form.get("password"):
        return "zenml-api-key"
    if form.get("device_code"):
        return DEVICE_CODE_GRANT
    return "password"


def _device_code_grant(call: Call, form: dict[str, str]) -> httpx.Response:
    client_id, device_code = form.get("client_id"), form.get("device_code")
    if not client_id or not device_code:
        raise errors.http_exception(400, "Invalid request: device code and client ID are required.")
    try:
        client_id = parse_uuid(client_id)
    except FieldError:
        raise errors.http_exception(400, "Invalid request: invalid client ID.") from None
    device = call.backend.store.exchange_code(client_id, device_code, call.now)
    owner = call.backend.store.users[device.user_id or ""]
    return httpx.Response(200, json=call.backend.auth.token_response(owner, call.now, device))


def current_user(call: Call) -> httpx.Response:
    context = call.authenticate()
    return httpx.Response(200, json=user_json(context.user, hydrate=True))
