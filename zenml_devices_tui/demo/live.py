"""Small changes over time, so the demo looks like a fleet in use.

One step ("tick") stamps a fresh login on one random active device, and every sixth step a new device
signs in (at most ``MAX_NEW_DEVICES`` in all). Steps come from :meth:`LiveActivity.tick`, or lazily from
:meth:`LiveActivity.catch_up` at most once per ``TICK_SECONDS`` of clock time.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from zenml_devices_tui.demo.records import ACTIVE, User
from zenml_devices_tui.demo.seed import generated_device
from zenml_devices_tui.demo.store import DeviceStore

TICK_SECONDS = 5.0
NEW_DEVICE_EVERY = 6
MAX_NEW_DEVICES = 10


class LiveActivity:
    def __init__(
        self, store: DeviceStore, owner: User, rng: random.Random, started: datetime, *, first_new_index: int
    ) -> None:
        """``first_new_index`` numbers the hostnames of devices that appear later (``ci-runner-903``)."""
        self.store = store
        self.first_new_index = first_new_index
        self.owner = owner
        self.rng = rng
        self.ticks = 0
        self.new_devices = 0
        self.last_tick = started

    def catch_up(self, now: datetime) -> bool:
        """Apply one step if ``TICK_SECONDS`` have passed since the last one; True if it did."""
        if now - self.last_tick < timedelta(seconds=TICK_SECONDS):
            return False
        self.tick(now)
        return True

    def tick(self, now: datetime) -> None:
        self.ticks += 1
        self.last_tick = now
        active = [
            device
            for device in self.store.devices.values()
            if device.user_id == self.owner.id and device.status == ACTIVE and not device.is_expired(now)
        ]
        if active:
            device = self.rng.choice(active)
            device.last_login = now
            device.updated = now
        if self.ticks % NEW_DEVICE_EVERY == 0 and self.new_devices < MAX_NEW_DEVICES:
            self.new_devices += 1
            device = generated_device(self.rng, now, self.owner, self.first_new_index + self.new_devices)
            device.status = ACTIVE
            device.created = device.updated = device.last_login = now
            device.expires = None
            device.failed_auth_attempts = 0
            self.store.add_device(device)
