"""State and lifecycle of authorized devices: what the real server's handlers and SQL store do.

Every rule here mirrors zenml 0.98.0 (``auth_endpoints.py``, ``devices_endpoints.py``, ``auth.py`` and
``device_schemas.py``), including its error texts and the order of its checks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from zenml_devices_tui.demo import errors
from zenml_devices_tui.demo.records import (
    ACTIVE,
    LOCKED,
    PENDING,
    VERIFIED,
    Device,
    User,
    random_hex,
    random_uuid,
)


# The OAuth error a poll gets for a device that is not (yet) verified; "active" gets expired_token.
POLL_ERRORS = {PENDING: "authorization_pending", LOCKED: "access_denied"}


@dataclass
class Settings:
    """The server configuration values that matter for devices (``ServerConfiguration``)."""

    device_auth_timeout: int = 300
    polling_interval: int = 5
    max_failed_device_auth_attempts: int = 3
    # With both unset (the zenml default) devices and their tokens never expire after login.
    device_expiration_minutes: int | None = None
    trusted_device_expiration_minutes: int | None = None
    auto_approve_after: float | None = 3.0


@dataclass
class UserAgentDetails:
    """What ``OAuthDeviceUserAgentHeader.decode`` reads from ``Host/… ZenML/… Python/… OS/…``."""

    hostname: str | None = None
    zenml_version: str | None = None
    python_version: str | None = None
    os: str | None = None

    @classmethod
    def decode(cls, header: str | None) -> UserAgentDetails:
        details = cls()
        for token in (header or "").strip().split(" "):
            key, sep, value = token.partition("/")
            if not sep:
                continue
            if key == "Host":
                details.hostname = value
            elif key == "ZenML":
                details.zenml_version = value
            elif key == "Python":
                details.python_version = value
            elif key == "OS":
                details.os = value
        return details


class DeviceStore:
    """Users and devices, and every state change a device goes through."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.settings = settings
        self.rng = rng
        self.users: dict[str, User] = {}
        self.devices: dict[str, Device] = {}
        self._pending_approvals: set[str] = set()

    # -- lookups -----------------------------------------------------------------------------------

    def add_device(self, device: Device) -> None:
        self.devices[device.id] = device

    def by_client_id(self, client_id: str) -> Device | None:
        # A linear scan, like the real server's unindexed query; fast enough for 10,000 rows.
        for device in self.devices.values():
            if device.client_id == client_id:
                return device
        return None

    def user_by_name_or_id(self, name_or_id: str) -> User | None:
        for user in self.users.values():
            if name_or_id in (user.name, user.id):
                return user
        return None

    def owned_device(self, device_id: str, user: User) -> Device:
        """The device if it exists and belongs to ``user``; the endpoints' 404s otherwise."""
        device = self.get_device(device_id)
        if device.user_id != user.id:
            raise errors.key_error(
                f"Unable to get device with ID {device_id}: No device with this ID found."
            )
        return device

    def get_device(self, device_id: str) -> Device:
        device = self.devices.get(device_id)
        if device is None:
            raise errors.key_error(
                f"Unable to get authorized device with ID '{device_id}': "
                "No authorized device with this ID found"
            )
        return device

    # -- device authorization (RFC 8628) -----------------------------------------------------------

    def authorize(self, client_id: str, details: UserAgentDetails, ip: str, now: datetime) -> Device:
        """Create the device for ``client_id``, or reset the existing one to pending (any state)."""
        expires = now + timedelta(seconds=self.settings.device_auth_timeout)
        device = self.by_client_id(client_id)
        if device is None:
            device = Device(
                id=random_uuid(self.rng), client_id=client_id, status=PENDING, created=now, updated=now
            )
            self.add_device(device)
        device.status = PENDING
        device.trusted_device = False
        device.failed_auth_attempts = 0
        device.expires = expires
        device.updated = now
        device.ip_address, device.city, device.region, device.country = ip, "", "", ""
        # Like ``model_dump(exclude_none=True)``: a header without e.g. ``Host/`` keeps the old value.
        for name in ("hostname", "zenml_version", "python_version", "os"):
            value = getattr(details, name)
            if value is not None:
                setattr(device, name, value)
        device.user_code = random_hex(self.rng, 16)
        device.device_code = random_hex(self.rng, 32)
        if self.settings.auto_approve_after is None:
            device.approve_at = None
            self._pending_approvals.discard(device.id)
        else:
            device.approve_at = now + timedelta(seconds=self.settings.auto_approve_after)
            self._pending_approvals.add(device.id)
        return device

    def approve_due(self, now: datetime, approver: User) -> None:
        """The pretend dashboard user approves every pending request whose time has come."""
        for device_id in sorted(self._pending_approvals):
            device = self.devices.get(device_id)
            if device is None or device.approve_at is None or device.status != PENDING:
                self._pending_approvals.discard(device_id)
                continue
            if device.approve_at > now:
                continue
            self._pending_approvals.discard(device_id)
            approved_at = device.approve_at
            device.approve_at = None
            if device.is_expired(approved_at) or device.user_id not in (None, approver.id):
                continue  # the dashboard would refuse: verification expired, or someone else's device
            self._mark_verified(device, approver, trusted=False, now=approved_at)

    def verify(self, device_id: str, user: User, user_code: str, trusted: bool, now: datetime) -> Device:
        """``PUT /devices/{id}/verify``: the owner approves a pending request with its user code."""
        device = self.devices.get(device_id)
        if device is None:
            raise errors.key_error(
                "Unable to get device with client ID None: No device with this client ID found."
            )
        if device.status != PENDING:
            raise errors.value_error("Invalid request: device not pending verification.")
        if device.expires is not None and device.expires < now:
            raise errors.value_error("Invalid request: device verification expired.")
        if device.user_id and device.user_id != user.id:
            raise errors.value_error("Invalid request: this device is associated with another user.")
        if user_code != device.user_code:
            if self._count_failure(device, now):
                raise errors.value_error(
                    "Invalid request: device locked due to too many failed authentication attempts."
                )
            raise errors.value_error("Invalid request: invalid user code.")
        self._mark_verified(device, user, trusted=trusted, now=now)
        return device

    def _mark_verified(self, device: Device, user: User, *, trusted: bool, now: datetime) -> None:
        device.status = VERIFIED
        device.user_id = user.id
        device.failed_auth_attempts = 0
        device.trusted_device = trusted
        device.updated = now
        device.approve_at = None
        self._pending_approvals.discard(device.id)

    def _count_failure(self, device: Device, now: datetime) -> bool:
        """One more failed attempt; True if that locked the device."""
        device.failed_auth_attempts += 1
        device.updated = now
        if device.failed_auth_attempts >= self.settings.max_failed_device_auth_attempts:
            device.status = LOCKED
            return True
        return False

    def exchange_code(self, client_id: str, device_code: str, now: datetime) -> Device:
        """The device-code grant (``authenticate_device``): checks in the server's order."""
        device = self.by_client_id(client_id)
        if device is None:
            raise errors.oauth_error(
                "invalid_client",
                f"Authentication error: error retrieving device with client ID {client_id}",
            )
        if device.status != VERIFIED:
            code = POLL_ERRORS.get(device.status, "expired_token")
            raise errors.oauth_error(
                code, f"Authentication error: device with client ID {client_id} is {device.status}."
            )
        if device.is_expired(now):
            raise errors.oauth_error(
                "expired_token", f"Authentication error: device for client ID {client_id} has expired"
            )
        if device_code != device.device_code:
            if self._count_failure(device, now):
                reason = "has been locked due to too many failed authentication attempts."
            else:
                reason = "has an invalid device code."
            raise errors.oauth_error(
                "access_denied", f"Authentication error: device for client ID {client_id} {reason}"
            )
        minutes = self._token_lifetime_minutes(device)
        device.status = ACTIVE
        device.expires = now + timedelta(minutes=minutes) if minutes else None
        device.updated = now
        return device

    def _token_lifetime_minutes(self, device: Device) -> int:
        if device.trusted_device:
            return self.settings.trusted_device_expiration_minutes or 0
        return self.settings.device_expiration_minutes or 0

    # -- the owner's actions -----------------------------------------------------------------------

    def set_locked(self, device: Device, locked: bool | None, now: datetime) -> Device:
        """``PUT /devices/{id}``: locked → locked; unlocked → active, whatever the state was."""
        if locked is True:
            device.status = LOCKED
        elif locked is False:
            device.status = ACTIVE
        device.updated = now
        return device

    def delete(self, device: Device) -> None:
        del self.devices[device.id]
        self._pending_approvals.discard(device.id)

    def record_login(self, device: Device, now: datetime) -> None:
        """Every request authenticated by a device token stamps ``last_login`` and ``updated``."""
        device.last_login = now
        device.updated = now
