"""Keeping a copy of the user's device list up to date with as little work as the server allows.

The server's own change marker is ``updated``: every change to a device (lock, unlock,
re-authorization, a verification, a failed code, a request authenticated with its token)
bumps it; creating a device adds one to ``total``, deleting one takes one off. So:

* the first refresh fetches everything (every page, hydrated);
* every later refresh asks ONE small question, the two most recently updated devices and the
  total (``size=2&sort_by=desc:updated``). This app's own device is bumped by that very
  request, so it is (almost always) the first item: it is taken as it is, so its last login
  stays true. The first item that is not ours is the newest change of any other device. If it
  and the total are what they were, nothing else changed;
* otherwise it fetches the devices updated since the last known change (to the second, the
  filter's precision: a few devices are fetched twice, none is missed), and if the count then
  disagrees with the total (a device was deleted, or a change slipped through) it fetches
  everything again.

Nothing here imports Textual. ``tests/test_sync_contract.py`` checks each of these server
behaviours against the real ZenML server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Protocol

from zenml_devices_tui.core.models import Device, Page, parse_datetime

#: Items the change probe asks for: this app's own device and the newest change of another one.
PROBE_SIZE = 2


class DeviceSource(Protocol):
    async def list_devices(self, *, updated_since: datetime | None = None) -> list[Device]: ...

    async def list_devices_page(
        self, *, page: int = 1, size: int = 2, sort_by: str = "desc:updated", updated_since: datetime | None = None
    ) -> Page: ...


@dataclass
class SyncResult:
    """What one refresh learned. ``changed``: ids added or changed; ``removed``: ids gone."""

    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    #: Everything was fetched (the first refresh, or a deletion / inconsistency).
    full: bool = False
    #: No device but (perhaps) this app's own one changed: the probe was the only request.
    unchanged: bool = False
    requests: int = 0


class DeviceSync:
    """The user's devices by id (:attr:`known`), brought up to date by :meth:`refresh`."""

    def __init__(self, client: DeviceSource, own_id: str | None) -> None:
        self.client = client
        self.own_id = own_id
        self.known: dict[str, Device] = {}
        #: The server's device count at the last refresh.
        self.total: int | None = None
        #: The server's count minus the devices a full fetch found (0 unless the server miscounts):
        #: a server whose ``total`` is wrong must not cost a full fetch on every refresh.
        self._total_offset = 0
        #: The newest ``updated`` of any device but this app's own, as the server last listed it.
        self.others_max_updated: datetime | None = None
        self.loaded = False

    # ------------------------------------------------------------ refreshing

    async def refresh(self) -> SyncResult:
        if not self.loaded:
            return await self._full(SyncResult())
        result = SyncResult(requests=1)
        page = await self.client.list_devices_page(size=PROBE_SIZE, sort_by="desc:updated")
        others_max = self._scan_probe(page.items, result)
        if page.total == self.total and others_max == self.others_max_updated:
            result.unchanged = True
            return result
        since = self.others_max_updated
        if since is None:
            return await self._full(result)
        result.requests += 1
        delta = await self.client.list_devices(updated_since=since)
        for device in delta:
            self._upsert(device, result)
            if device.id != self.own_id and device.updated is not None:
                if others_max is None or device.updated > others_max:
                    others_max = device.updated
        self.others_max_updated = others_max
        self.total = page.total
        if len(self.known) + self._total_offset != page.total:
            return await self._full(result)
        return result

    def _scan_probe(self, items: list[object], result: SyncResult) -> datetime | None:
        """Take this app's own device from the probe; return the newest ``updated`` of the others."""
        others_max: datetime | None = None
        for item in items:
            item_id = item.get("id") if isinstance(item, dict) else None
            if self.own_id is not None and item_id == self.own_id:
                self._upsert(Device.from_json(item), result)
            elif others_max is None:
                # Sorted newest first: the first item that is not ours is the newest change.
                body = item.get("body") if isinstance(item, dict) else None
                updated = parse_datetime(body.get("updated")) if isinstance(body, dict) else None
                if updated is None:  # not what the server sends; parse it properly to find out
                    updated = Device.from_json(item).updated
                others_max = updated
        return others_max

    async def _full(self, result: SyncResult) -> SyncResult:
        result.requests += 1
        devices = await self.client.list_devices()
        old = self.known
        known: dict[str, Device] = {}
        others_max: datetime | None = None
        for device in devices:
            previous = old.get(device.id)
            if previous is not None and previous == device:
                device = previous  # keep the object: whoever holds it sees nothing changed
            else:
                result.changed.add(device.id)
            known[device.id] = device
            if device.id != self.own_id and device.updated is not None:
                if others_max is None or device.updated > others_max:
                    others_max = device.updated
        result.removed = {key for key in old if key not in known}
        result.changed -= result.removed
        result.full = True
        result.unchanged = False
        self.known = known
        reported = getattr(self.client, "last_list_total", None)
        self.total = reported if isinstance(reported, int) else len(known)
        self._total_offset = self.total - len(known)
        self.others_max_updated = others_max
        self.loaded = True
        return result

    def _upsert(self, device: Device, result: SyncResult) -> None:
        if self.known.get(device.id) != device:
            self.known[device.id] = device
            result.changed.add(device.id)

    # ------------------------------------------------------------ what actions learned

    def learn(self, device: Device) -> None:
        """A device as an action's answer showed it (the server's word, newer than the last list)."""
        self.known[device.id] = device

    def forget(self, device_ids: Iterable[str]) -> None:
        """Devices an action deleted."""
        for device_id in device_ids:
            self.known.pop(device_id, None)
