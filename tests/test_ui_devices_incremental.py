"""The devices screen's incremental refresh (DeviceSync + cached rows and sort keys) ends where a
full recompute would: the same rows, in the same order, whatever changed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.test_ui_devices import add_demo_device, loaded, next_refresh, own_devices
from tests.uihelpers import signed_in_harness
from zenml_devices_tui.demo.records import ACTIVE, LOCKED
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.devices import DevicesScreen
from zenml_devices_tui.ui.widgets.device_rows import device_row


def assert_matches_full_recompute(screen: DevicesScreen) -> None:
    now = screen.now()
    expected = screen.visible_devices(now)
    assert screen.table.shown_order == [d.id for d in expected]
    for device in expected:
        assert screen.table.shown_rows[device.id] == device_row(device, now, screen.this_device_id), device.hostname


async def test_deltas_keep_rows_and_order_as_a_full_recompute_would(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        screen.action_sort("last_login")
        screen.action_sort_reverse()
        requests = harness.demo.request_count
        await next_refresh(pilot, harness)
        assert harness.demo.request_count - requests == 1, "nothing changed: one probe"
        assert_matches_full_recompute(screen)

        mine = sorted(own_devices(harness).values(), key=lambda d: d.id)
        mine = [d for d in mine if d.id != screen.this_device_id and d.status in (ACTIVE, LOCKED)]
        for device in mine[:3]:  # changed in the dashboard: status and a login
            device.status = LOCKED if device.status == ACTIVE else ACTIVE
            device.last_login = harness.clock.now()
        add_demo_device(harness, "zzz-new-one")
        await next_refresh(pilot, harness)
        assert_matches_full_recompute(screen)
        assert "zzz-new-one" in {d.hostname for d in screen.devices.values()}

        del harness.demo.devices[mine[4].id]
        screen.action_sort("hostname")
        await next_refresh(pilot, harness)
        assert mine[4].id not in screen.table.shown_rows
        assert_matches_full_recompute(screen)

        # With a filter: a device that starts to match appears, one that stops matching goes.
        screen.filter_input.value = "zzz"
        await pilot.pause()
        assert set(screen.table.shown_rows) == {d.id for d in screen.devices.values() if d.hostname == "zzz-new-one"}
        mine[5].hostname = "zzz-renamed"
        harness.demo.devices[next(k for k, d in harness.demo.devices.items() if d.hostname == "zzz-new-one")].hostname = "aaa"
        await next_refresh(pilot, harness)
        assert {screen.devices[k].hostname for k in screen.table.shown_rows} == {"zzz-renamed"}
        assert_matches_full_recompute(screen)

        # A minute later relative times and "expired" are recomputed for every row.
        await next_refresh(pilot, harness, seconds=timedelta(minutes=2).total_seconds())
        assert_matches_full_recompute(screen)
