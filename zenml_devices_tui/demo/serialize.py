"""JSON bodies exactly as zenml 0.98.0 renders them (field order included)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from zenml_devices_tui.demo.records import Device, User


def iso(value: datetime | None) -> str | None:
    """Naive ISO-8601 in UTC, like pydantic for the server's naive datetimes.

    Microseconds are printed when not zero (``2026-12-03T15:53:10.894463``), and left out when they are
    zero, as pydantic does.
    """
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


def user_json(user: User, *, hydrate: bool) -> dict[str, Any]:
    """A ``UserResponse``: ``metadata`` only when hydrated; ``resources`` is always null."""
    metadata = None
    if hydrate:
        metadata = {
            "password_changed_at": iso(user.password_changed_at),
            "email": None,
            "external_user_id": None,
            "user_metadata": {},
            "oidc_claims": {},
        }
    return {
        "body": {
            "created": iso(user.created),
            "updated": iso(user.updated),
            "active": user.active,
            "activation_token": None,
            "full_name": user.full_name,
            "email_opted_in": None,
            "is_service_account": False,
            "is_admin": user.is_admin,
            "default_project_id": None,
            "avatar_url": None,
        },
        "metadata": metadata,
        "resources": None,
        "id": user.id,
        "permission_denied": False,
        "name": user.name,
    }


def device_json(device: Device, owner: User | None, *, hydrate: bool) -> dict[str, Any]:
    """An ``OAuthDeviceResponse``; ``resources.user`` is always present (null when unclaimed)."""
    metadata = None
    if hydrate:
        metadata = {
            "python_version": device.python_version,
            "zenml_version": device.zenml_version,
            "city": device.city,
            "region": device.region,
            "country": device.country,
            "failed_auth_attempts": device.failed_auth_attempts,
            "last_login": iso(device.last_login),
        }
    return {
        "body": {
            "created": iso(device.created),
            "updated": iso(device.updated),
            "user_id": device.user_id,
            "client_id": device.client_id,
            "expires": iso(device.expires),
            "trusted_device": device.trusted_device,
            "status": device.status,
            "os": device.os,
            "ip_address": device.ip_address,
            "hostname": device.hostname,
        },
        "metadata": metadata,
        "resources": {"user": user_json(owner, hydrate=False) if owner else None},
        "id": device.id,
        "permission_denied": False,
    }


def page_json(
    items: list[dict[str, Any]], *, index: int, size: int, total: int, pages: int
) -> dict[str, Any]:
    """The ``Page`` envelope."""
    return {"index": index, "max_size": size, "total_pages": pages, "total": total, "items": items}
