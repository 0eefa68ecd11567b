"""Access tokens: issuing them at login and checking them on every request (``zen_server/auth.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from zenml_devices_tui.demo import errors, jwt
from zenml_devices_tui.demo.records import ACTIVE, Device, User
from zenml_devices_tui.demo.store import DeviceStore


@dataclass
class AuthContext:
    """Who is calling: the user, and the device when the token came from the device flow."""

    user: User
    device: Device | None = None


class Authenticator:
    """Signs tokens for one server id and turns a request's credentials into an :class:`AuthContext`."""

    def __init__(self, store: DeviceStore, server_id: str, secret: bytes) -> None:
        self.store = store
        self.server_id = server_id
        self.secret = secret

    @property
    def cookie_name(self) -> str:
        return f"zenml-server-{self.server_id}"

    def token_response(self, user: User, now: datetime, device: Device | None = None) -> dict[str, Any]:
        """``OAuthTokenResponse``: every key present, ``device_id`` null (it is inside the JWT)."""
        claims: dict[str, Any] = {
            "sub": user.id,
            "iss": self.server_id,
            "aud": self.server_id,
            "iat": now.timestamp(),
        }
        expires_in = None
        if device is not None:
            if device.expires is not None:
                claims["exp"] = int(device.expires.timestamp())
                expires_in = max(int(device.expires.timestamp() - now.timestamp()), 0)
            claims["device_id"] = device.id
        return {
            "access_token": jwt.encode(claims, self.secret),
            "token_type": "bearer",
            "expires_in": expires_in,
            "refresh_token": None,
            "csrf_token": None,
            "scope": None,
            "device_id": None,
            "device_metadata": None,
        }

    def password_login(self, username: str, password: str) -> User:
        user = self.store.user_by_name_or_id(username)
        if user is None or user.password != password:
            raise errors.credentials_error("invalid username or password")
        if not user.active:
            raise errors.credentials_error(f"user {user.name} is not active")
        return user

    def bearer_token(self, request: httpx.Request) -> str:
        """The token from the session cookie or the ``Authorization: Bearer`` header (FastAPI's rules)."""
        cookie = _cookies(request).get(self.cookie_name)
        if cookie:
            return cookie
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise errors.not_authenticated()
        return token

    def authenticate(self, request: httpx.Request, now: datetime) -> AuthContext:
        """Check the caller's token like ``authenticate_credentials``; a device token stamps a login."""
        token = self.bearer_token(request)
        try:
            claims = jwt.decode(
                token, self.secret, audience=self.server_id, issuer=self.server_id, now=now.timestamp()
            )
        except jwt.TokenError as exc:
            raise errors.credentials_error(
                f"error decoding access token: Invalid JWT token: {exc}."
            ) from None
        user_id = _uuid_claim(claims, "sub", required=True)
        device_id = _uuid_claim(claims, "device_id", required=False)
        user = self.store.users.get(user_id or "")
        if user is None:
            raise errors.credentials_error(f"error retrieving token account {user_id}")
        if not user.active:
            raise errors.credentials_error(f"account {user.name} is not active")
        if device_id is None:
            return AuthContext(user)
        device = self.store.devices.get(device_id)
        if device is None:
            raise errors.credentials_error(f"error retrieving token device {device_id}")
        if device.user_id != user.id:
            raise errors.credentials_error(f"device {device_id} does not belong to user {user.name}")
        if device.status != ACTIVE:
            raise errors.credentials_error(f"device {device_id} is not active")
        if device.is_expired(now):
            raise errors.credentials_error(f"device {device_id} has expired")
        self.store.record_login(device, now)
        return AuthContext(user, device)


def _uuid_claim(claims: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        if required:
            raise errors.credentials_error(
                "error decoding access token: Invalid JWT token: the subject claim is missing."
            )
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        what = "subject" if name == "sub" else name
        raise errors.credentials_error(
            f"error decoding access token: Invalid JWT token: the {what} claim is not a valid UUID."
        ) from None


def _cookies(request: httpx.Request) -> dict[str, str]:
    jar: dict[str, str] = {}
    for part in request.headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            jar[name] = value
    return jar
