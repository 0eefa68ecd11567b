"""What :class:`DeviceSync` relies on, checked against the demo server and the real one.

The sync trusts five server behaviours (see ``core/sync.py``): the ``updated`` filter with
``gte:`` and ``%Y-%m-%d %H:%M:%S``; ``sort_by=desc:updated``; the calling device bumped by
the request itself; every change to another device (a lock, a login with its token) bumping
its ``updated``; a deletion changing ``total``. Each test below runs on both servers
(the ``server`` fixture), then DeviceSync itself runs against both.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from tests.realserver import DeviceLogin
from tests.servers import ServerHandle
from zenml_devices_tui.core.client import ZenMLClient, filter_datetime
from zenml_devices_tui.core.models import parse_datetime
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.sync import DeviceSync

PROBE = {"size": 2, "sort_by": "desc:updated", "hydrate": "true"}


async def _user_with_devices(server: ServerHandle, others: int = 3) -> tuple[str, DeviceLogin, list[DeviceLogin]]:
    """A fresh user: (password token, this app's device signed in with its token, other devices)."""
    user_token = await server.new_user_token()
    own = await server.device_login(user_token)
    seeded = await server.seed_devices(others, user_token, hostname_prefix="sync")
    return user_token, own, seeded


async def _list(server: ServerHandle, token: str, **params: Any) -> dict[str, Any]:
    r = await server.request("GET", "/api/v1/devices", token=token, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _updated(item: dict[str, Any]) -> datetime:
    value = parse_datetime(item["body"]["updated"])
    assert value is not None
    return value


async def _tick() -> None:
    # Timestamps have microseconds; a short pause makes "later" unambiguous on a fast machine.
    await asyncio.sleep(0.01)


async def test_probe_puts_the_calling_device_first_with_a_fresh_login(server: ServerHandle) -> None:
    _, own, seeded = await _user_with_devices(server)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    page = await _list(server, own.token, **PROBE)
    assert page["total"] == 1 + len(seeded)
    assert len(page["items"]) == 2
    first = page["items"][0]
    assert first["id"] == own.id, "the request bumps its own device's updated: it sorts first"
    assert first["metadata"]["last_login"] == first["body"]["updated"]
    assert _updated(first) >= before
    second = await _list(server, own.token, **PROBE)
    assert _updated(second["items"][0]) > _updated(first), "every request bumps it again"
    # The others are sorted newest first, and the probe's second item is the newest of them.
    everything = await _list(server, own.token, size=100, sort_by="desc:updated", hydrate="true")
    stamps = [_updated(i) for i in everything["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert everything["items"][1]["id"] == second["items"][1]["id"]


async def test_updated_filter_takes_gte_and_whole_seconds(server: ServerHandle) -> None:
    user_token, own, seeded = await _user_with_devices(server)
    items = (await _list(server, user_token, size=100, hydrate="true"))["items"]
    newest_other = max((i for i in items if i["id"] != own.id), key=_updated)
    stamp = _updated(newest_other)
    floor = filter_datetime(stamp)
    assert len(floor) == 19 and "T" not in floor
    got = await _list(server, user_token, updated=f"gte:{floor}", size=100)
    ids = {i["id"] for i in got["items"]}
    assert newest_other["id"] in ids, "the floored second includes the device itself"
    assert got["total"] == len(got["items"])
    later = filter_datetime(stamp + timedelta(seconds=2))
    got = await _list(server, user_token, updated=f"gte:{later}", size=100)
    assert newest_other["id"] not in {i["id"] for i in got["items"]}


async def test_lock_by_someone_else_bumps_updated(server: ServerHandle) -> None:
    user_token, own, seeded = await _user_with_devices(server)
    target = seeded[1]
    old = (await server.request("GET", f"/api/v1/devices/{target.id}", token=user_token)).json()
    await _tick()
    r = await server.request("PUT", f"/api/v1/devices/{target.id}", token=user_token, json={"locked": True})
    assert r.status_code == 200, r.text
    assert _updated(r.json()) > _updated(old)
    page = await _list(server, own.token, **PROBE)
    assert [i["id"] for i in page["items"]] == [own.id, target.id]
    assert page["items"][1]["body"]["status"] == "locked"


async def test_login_with_another_devices_token_bumps_its_updated(server: ServerHandle) -> None:
    user_token, own, seeded = await _user_with_devices(server)
    target = seeded[0]
    old = (await server.request("GET", f"/api/v1/devices/{target.id}", token=user_token)).json()
    await _tick()
    assert (await server.request("GET", "/api/v1/current-user", token=target.token)).status_code == 200
    page = await _list(server, own.token, **PROBE)
    assert [i["id"] for i in page["items"]] == [own.id, target.id]
    item = page["items"][1]
    assert _updated(item) > _updated(old)
    assert item["metadata"]["last_login"] == item["body"]["updated"]


async def test_delete_changes_total(server: ServerHandle) -> None:
    user_token, own, seeded = await _user_with_devices(server)
    before = (await _list(server, own.token, **PROBE))["total"]
    r = await server.request("DELETE", f"/api/v1/devices/{seeded[2].id}", token=user_token)
    assert r.status_code == 200, r.text
    assert (await _list(server, own.token, **PROBE))["total"] == before - 1


# ----------------------------------------------------------------------------- DeviceSync on both servers


def _client(server: ServerHandle, token: str) -> ZenMLClient:
    transport = server.transport if isinstance(server.transport, httpx.AsyncBaseTransport) else None
    return ZenMLClient(server.base_url, token=Secret(token), transport=transport, page_size=2)


async def test_device_sync_follows_the_server(server: ServerHandle) -> None:
    user_token, own, seeded = await _user_with_devices(server, others=4)
    async with _client(server, own.token) as client:
        sync = DeviceSync(client, own.id)
        first = await sync.refresh()
        assert first.full and first.changed == {own.id, *(d.id for d in seeded)}
        assert len(sync.known) == 5

        quiet = await sync.refresh()
        assert quiet.unchanged and quiet.requests == 1 and not quiet.removed
        assert quiet.changed <= {own.id}
        assert sync.known[own.id].last_login is not None

        await _tick()
        await server.request("PUT", f"/api/v1/devices/{seeded[3].id}", token=user_token, json={"locked": True})
        delta = await sync.refresh()
        assert not delta.unchanged and not delta.full
        assert seeded[3].id in delta.changed and sync.known[seeded[3].id].status == "locked"

        await _tick()
        assert (await server.request("GET", "/api/v1/current-user", token=seeded[0].token)).status_code == 200
        delta = await sync.refresh()
        assert seeded[0].id in delta.changed and not delta.full

        added = await server.device_login(user_token)
        delta = await sync.refresh()
        assert added.id in delta.changed and not delta.full

        await server.request("DELETE", f"/api/v1/devices/{seeded[1].id}", token=user_token)
        gone = await sync.refresh()
        assert gone.full and gone.removed == {seeded[1].id}
        assert seeded[1].id not in sync.known and len(sync.known) == 5

        assert (await sync.refresh()).unchanged
