"""Typed models of what the ZenML server sends, with tolerant parsers.

Parsers accept what the server may send (unknown fields ignored, optional fields
missing or null) and raise :class:`BadResponse` only when a required field is
missing or of the wrong type. Every string is stripped of control characters.
Datetimes from the server are naive ISO-8601 in UTC; they become aware datetimes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping
from uuid import UUID

from zenml_devices_tui.core.errors import BadResponse
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.text import clean

DEVICE_STATUSES = ("pending", "verified", "active", "locked")
#: The form ``str(UUID(...))`` gives: a value already in it needs no round trip through ``UUID``.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# ---------------------------------------------------------------- helpers


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    if not isinstance(value, Mapping):
        raise BadResponse(f"The server sent {what} that is not a JSON object.")
    return value


def _opt_obj(value: Any) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    return value if isinstance(value, Mapping) else {}


def _req_str(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise BadResponse(f"The server sent {what} without a valid '{key}'.")
    return clean(value)


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is str:
        return clean(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return clean(value)


def _opt_bool(obj: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = obj.get(key)
    return value if isinstance(value, bool) else default


def _opt_int(obj: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    value = obj.get(key)
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default


def _finite_number(value: Any) -> bool:
    # json.loads accepts Infinity and NaN, which int() cannot convert.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _uuid(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadResponse(f"The server sent {what} without a valid id.")
    if _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(UUID(value))
    except ValueError:
        raise BadResponse(f"The server sent {what} with an id that is not a UUID.") from None


def _opt_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(UUID(value))
    except ValueError:
        return None


def parse_datetime(value: Any) -> datetime | None:
    """Parse the server's naive-UTC ISO-8601 strings (and aware ones) into aware UTC datetimes."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class ServerInfo:
    id: str | None
    name: str
    version: str
    auth_scheme: str
    deployment_type: str | None = None
    database_type: str | None = None
    dashboard_url: str | None = None
    server_url: str | None = None
    active: bool = True

    @property
    def supports_device_login(self) -> bool:
        return self.auth_scheme.upper() in ("OAUTH2_PASSWORD_BEARER", "")

    @classmethod
    def from_json(cls, data: Any) -> "ServerInfo":
        obj = _obj(data, "server info")
        if "version" not in obj and "auth_scheme" not in obj:
            raise BadResponse("The server's /api/v1/info answer does not look like a ZenML server.")
        return cls(
            id=_opt_uuid(obj.get("id")),
            name=_opt_str(obj, "name") or "ZenML server",
            version=_opt_str(obj, "version") or "unknown",
            auth_scheme=_opt_str(obj, "auth_scheme") or "",
            deployment_type=_opt_str(obj, "deployment_type"),
            database_type=_opt_str(obj, "database_type"),
            dashboard_url=_opt_str(obj, "dashboard_url") or None,
            server_url=_opt_str(obj, "server_url") or None,
            active=_opt_bool(obj, "active", True),
        )


@dataclass(frozen=True)
class User:
    id: str
    name: str
    full_name: str | None = None
    is_admin: bool = False

    @property
    def display_name(self) -> str:
        return self.full_name or self.name

    @classmethod
    def from_json(cls, data: Any) -> "User":
        obj = _obj(data, "a user")
        body = _opt_obj(obj.get("body"))
        return cls(
            id=_uuid(obj.get("id"), "a user"),
            name=_opt_str(obj, "name") or "",
            full_name=_opt_str(body, "full_name") or None,
            is_admin=_opt_bool(body, "is_admin"),
        )


@dataclass(frozen=True)
class Device:
    """One authorized device, flattened from the body / metadata / resources envelope."""

    id: str
    status: str
    client_id: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    expires: datetime | None = None
    trusted_device: bool = False
    os: str | None = None
    ip_address: str | None = None
    hostname: str | None = None
    python_version: str | None = None
    zenml_version: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    failed_auth_attempts: int | None = None
    last_login: datetime | None = None
    hydrated: bool = False

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def locked(self) -> bool:
        return self.status == "locked"

    def is_expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now

    def display_status(self, now: datetime) -> str:
        """The status a person should see: "expired" when the expiry passed but the server still says active."""
        if self.status in ("active", "verified", "pending") and self.is_expired(now):
            return "expired"
        return self.status

    @property
    def location(self) -> str:
        parts = [p for p in (self.city, self.country) if p]
        return ", ".join(parts)

    @classmethod
    def from_json(cls, data: Any) -> "Device":
        obj = _obj(data, "a device")
        body = _opt_obj(obj.get("body"))
        meta_raw = obj.get("metadata")
        meta = _opt_obj(meta_raw)
        resources = _opt_obj(obj.get("resources"))
        user = _opt_obj(resources.get("user"))
        status = _opt_str(body, "status")
        if status is None:
            raise BadResponse("The server sent a device without a status.")
        return cls(
            id=_uuid(obj.get("id"), "a device"),
            status=status.lower(),
            client_id=_opt_uuid(body.get("client_id")),
            user_id=_opt_uuid(body.get("user_id")),
            user_name=_opt_str(user, "name"),
            created=parse_datetime(body.get("created")),
            updated=parse_datetime(body.get("updated")),
            expires=parse_datetime(body.get("expires")),
            trusted_device=_opt_bool(body, "trusted_device"),
            os=_opt_str(body, "os"),
            ip_address=_opt_str(body, "ip_address"),
            hostname=_opt_str(body, "hostname"),
            python_version=_opt_str(meta, "python_version"),
            zenml_version=_opt_str(meta, "zenml_version"),
            city=_opt_str(meta, "city"),
            region=_opt_str(meta, "region"),
            country=_opt_str(meta, "country"),
            failed_auth_attempts=_opt_int(meta, "failed_auth_attempts"),
            last_login=parse_datetime(meta.get("last_login")),
            hydrated=isinstance(meta_raw, Mapping),
        )


@dataclass(frozen=True)
class Page:
    """The server's page envelope."""

    index: int
    max_size: int
    total_pages: int
    total: int
    items: list[Any] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> "Page":
        obj = _obj(data, "a page of results")
        items = obj.get("items")
        if not isinstance(items, list):
            raise BadResponse("The server sent a page of results without an 'items' list.")
        return cls(
            index=_opt_int(obj, "index", 1) or 1,
            max_size=_opt_int(obj, "max_size", len(items)) or len(items),
            total_pages=max(1, _opt_int(obj, "total_pages", 1) or 1),
            total=max(0, _opt_int(obj, "total", len(items)) or 0),
            items=items,
        )


@dataclass(frozen=True)
class DeviceAuthorization:
    """The answer to ``POST /api/v1/device_authorization`` (RFC 8628 section 3.2)."""

    device_code: Secret
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int | None

    @classmethod
    def from_json(cls, data: Any) -> "DeviceAuthorization":
        obj = _obj(data, "a device authorization")
        device_code = obj.get("device_code")
        if not isinstance(device_code, str) or not device_code:
            raise BadResponse("The server's device authorization has no device code.")
        expires_in = obj.get("expires_in")
        if not _finite_number(expires_in):
            raise BadResponse("The server's device authorization has no valid 'expires_in'.")
        interval = obj.get("interval")
        if interval is not None and not _finite_number(interval):
            raise BadResponse("The server's device authorization has an 'interval' that is not a number.")
        complete = obj.get("verification_uri_complete")
        return cls(
            device_code=Secret(device_code),
            user_code=_req_str(obj, "user_code", "a device authorization"),
            verification_uri=_req_str(obj, "verification_uri", "a device authorization"),
            verification_uri_complete=clean(complete) if isinstance(complete, str) and complete else None,
            expires_in=int(expires_in),
            interval=None if interval is None else int(interval),
        )


@dataclass(frozen=True)
class TokenResponse:
    """A successful answer from the token endpoint."""

    access_token: Secret
    token_type: str
    expires_in: int | None

    @classmethod
    def from_json(cls, data: Any) -> "TokenResponse":
        obj = _obj(data, "a token")
        token = obj.get("access_token")
        if not isinstance(token, str) or not token:
            raise BadResponse("The server's token answer has no access token.")
        token_type = obj.get("token_type")
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            raise BadResponse("The server issued a token that is not a bearer token.")
        expires_in = _opt_int(obj, "expires_in")
        return cls(
            access_token=Secret(token),
            token_type="bearer",
            expires_in=expires_in if expires_in and expires_in > 0 else None,
        )
