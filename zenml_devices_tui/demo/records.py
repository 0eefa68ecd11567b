"""The demo server's rows: users and authorized devices, as the real server stores them."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

Clock = Callable[[], datetime]  # returns an aware UTC datetime

PENDING = "pending"
VERIFIED = "verified"
ACTIVE = "active"
LOCKED = "locked"
STATUSES = (PENDING, VERIFIED, ACTIVE, LOCKED)


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so ids repeat run after run for the same seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_hex(rng: random.Random, nbytes: int) -> str:
    """Like ``secrets.token_hex`` but reproducible."""
    return rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()


@dataclass
class User:
    id: str
    name: str
    password: str
    created: datetime
    updated: datetime
    full_name: str = ""
    is_admin: bool = False
    active: bool = True
    password_changed_at: datetime | None = None


@dataclass
class Device:
    """One row of ``auth_devices``. Times are aware UTC datetimes; ids are lower-case UUID strings."""

    id: str
    client_id: str
    status: str
    created: datetime
    updated: datetime
    user_id: str | None = None
    expires: datetime | None = None
    trusted_device: bool = False
    failed_auth_attempts: int = 0
    last_login: datetime | None = None
    os: str | None = None
    ip_address: str | None = None
    hostname: str | None = None
    python_version: str | None = None
    zenml_version: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    # The codes are stored in plain text here (the real server keeps bcrypt hashes).
    user_code: str = ""
    device_code: str = ""
    # Demo only: when the pretend dashboard user approves this pending request (None = never).
    approve_at: datetime | None = field(default=None, repr=False)

    def is_expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires
