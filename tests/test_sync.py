"""DeviceSync's rules, on the demo server with a fake clock (the server behaviours themselves are
checked against the real server in test_sync_contract.py)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.core.clock import FakeClock
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.sync import DeviceSync
from zenml_devices_tui.demo.seed import generated_device
from zenml_devices_tui.demo.server import DemoServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def demo(clock: FakeClock) -> DemoServer:
    return DemoServer(clock=clock.now, auto_approve_after=None, live=False, device_count=30)


async def _sync(demo: DemoServer, clock: FakeClock) -> tuple[DeviceSync, ZenMLClient, str]:
    own_id, token = demo.device_token()
    clock.wall += timedelta(seconds=5)
    client = ZenMLClient(demo.base_url, token=Secret(token), transport=demo.transport, page_size=7)
    sync = DeviceSync(client, own_id)
    first = await sync.refresh()
    assert first.full and len(sync.known) == 31 and first.requests == 1
    return sync, client, own_id


def _mine(demo: DemoServer, own_id: str) -> list[str]:
    return sorted(k for k, d in demo.devices.items() if d.user_id == demo.user_id and k != own_id)


async def test_unchanged_is_one_request_and_keeps_our_login_fresh(demo: DemoServer, clock: FakeClock) -> None:
    sync, client, own_id = await _sync(demo, clock)
    clock.wall += timedelta(seconds=5)
    before = client.request_count
    result = await sync.refresh()
    assert result.unchanged and not result.full and result.requests == 1
    assert client.request_count - before == 1
    assert result.changed == {own_id}, "our own device's last login moved"
    assert sync.known[own_id].last_login == clock.wall


async def test_without_an_own_device_unchanged_changes_nothing(demo: DemoServer, clock: FakeClock) -> None:
    client = ZenMLClient(demo.base_url, token=Secret(demo.password_token()), transport=demo.transport)
    sync = DeviceSync(client, None)
    await sync.refresh()
    result = await sync.refresh()
    assert result.unchanged and result.changed == set() and result.requests == 1


async def test_a_change_is_fetched_as_a_delta(demo: DemoServer, clock: FakeClock) -> None:
    sync, client, own_id = await _sync(demo, clock)
    ids = _mine(demo, own_id)
    clock.wall += timedelta(seconds=5)
    for device_id in ids[:3]:
        record = demo.devices[device_id]
        record.status = "locked" if record.status != "locked" else "active"
        record.updated = clock.wall
    result = await sync.refresh()
    assert not result.full and not result.unchanged and result.requests == 2
    assert set(ids[:3]) <= result.changed <= {*ids[:3], own_id}
    for device_id in ids[:3]:
        assert sync.known[device_id].status == demo.devices[device_id].status
    assert (await sync.refresh()).unchanged


async def test_added_device_comes_with_the_delta(demo: DemoServer, clock: FakeClock) -> None:
    sync, client, own_id = await _sync(demo, clock)
    clock.wall += timedelta(seconds=5)
    new_id, _ = demo.device_token()
    result = await sync.refresh()
    assert not result.full and new_id in result.changed and new_id in sync.known


async def test_deleted_device_means_a_full_fetch(demo: DemoServer, clock: FakeClock) -> None:
    sync, client, own_id = await _sync(demo, clock)
    victim = _mine(demo, own_id)[4]
    del demo.devices[victim]
    result = await sync.refresh()
    assert result.full and result.removed == {victim} and victim not in sync.known
    assert not (result.changed - {own_id}), "the unchanged devices are not reported"


async def test_change_the_delta_cannot_see_means_a_full_fetch(demo: DemoServer, clock: FakeClock) -> None:
    sync, client, own_id = await _sync(demo, clock)
    # A device that appears with an old 'updated' (not what the server does, but the sync must not trust it).
    old = generated_device(random.Random(5), clock.wall - timedelta(days=3), demo.approver, 999)
    demo.store.add_device(old)
    result = await sync.refresh()
    assert result.full and old.id in result.changed and old.id in sync.known


async def test_actions_teach_the_sync(demo: DemoServer, clock: FakeClock) -> None:
    sync, client, own_id = await _sync(demo, clock)
    target = _mine(demo, own_id)[0]
    clock.wall += timedelta(seconds=5)
    locked = await client.lock_device(target)
    sync.learn(locked)
    assert sync.known[target].status == "locked"
    result = await sync.refresh()  # the lock bumped 'updated': fetched again, same answer
    assert not result.full and sync.known[target].status == "locked"
    await client.delete_device(target)
    sync.forget([target])
    result = await sync.refresh()
    assert not result.full and target not in sync.known
    assert (await sync.refresh()).unchanged
