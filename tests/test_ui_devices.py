"""The devices screen, driven with Pilot against the demo server and a fake clock.

Every test starts signed in (``signed_in_harness``): the app opens straight on the device
table. Refreshes are driven by ``harness.clock.advance``; nothing sleeps for real time.
"""

from __future__ import annotations

import html
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from tests.uihelpers import TEST_HOSTNAME, Harness, signed_in_harness
from zenml_devices_tui.demo.records import ACTIVE, LOCKED, Device as DemoDevice
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.confirm import ConfirmScreen
from zenml_devices_tui.ui.screens.devices import DevicesScreen
from zenml_devices_tui.ui.screens.help import HelpScreen
from zenml_devices_tui.ui.widgets.device_rows import COLUMN_INDEX, THIS_DEVICE_MARK
from zenml_devices_tui.ui.widgets.header import DevicesHeader

# --------------------------------------------------------------------------- helpers


async def wait_for(pilot: Any, condition: Callable[[], bool], what: str = "condition", tries: int = 200) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def screen_of(app: DevicesApp) -> DevicesScreen:
    for screen in reversed(app.screen_stack):
        if isinstance(screen, DevicesScreen):
            return screen
    raise AssertionError(f"no DevicesScreen in {app.screen_stack}")


async def loaded(pilot: Any) -> DevicesScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DevicesScreen) and app.screen.loaded, "the first load")
    return app.screen


async def next_refresh(pilot: Any, harness: Harness, seconds: float | None = None) -> None:
    """Move the clock to the next refresh and wait until it has finished."""
    screen = screen_of(pilot.app)
    # The refresh loop must be asleep on the fake clock before the clock moves, or it misses the tick.
    await wait_for(pilot, lambda: harness.clock.sleepers >= 1, "the refresh loop to wait")
    before = screen.refresh_count
    harness.clock.advance(seconds if seconds is not None else harness.context.refresh_interval)
    await wait_for(pilot, lambda: screen.refresh_count > before or not screen.is_attached, "a refresh")
    await pilot.pause()


def own_devices(harness: Harness) -> dict[str, DemoDevice]:
    return {k: d for k, d in harness.demo.devices.items() if d.user_id == harness.demo.user_id}


def by_hostname(harness: Harness, hostname: str) -> DemoDevice:
    return next(d for d in own_devices(harness).values() if d.hostname == hostname)


def first_with(harness: Harness, status: str, exclude: str | None = None) -> DemoDevice:
    return next(
        d
        for d in sorted(own_devices(harness).values(), key=lambda d: d.hostname or "")
        if d.status == status and not d.is_expired(harness.clock.now()) and d.hostname != exclude
        and d.hostname != TEST_HOSTNAME
    )


def add_demo_device(harness: Harness, hostname: str, **fields: Any) -> DemoDevice:
    now = harness.clock.now()
    device = DemoDevice(
        id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        status=fields.pop("status", ACTIVE),
        created=now,
        updated=now,
        user_id=harness.demo.user_id,
        hostname=hostname,
        ip_address=fields.pop("ip_address", "10.9.8.7"),
        os="Linux",
        python_version="3.12.1",
        zenml_version="0.98.0",
        last_login=now,
        **fields,
    )
    harness.demo.store.add_device(device)
    return device


def cell(screen: DevicesScreen, device_id: str, column: str) -> str:
    return screen.table.shown_rows[device_id][COLUMN_INDEX[column]]


def drawn_cell(screen: DevicesScreen, device_id: str, column: str) -> str:
    """The text the table draws for a cell (what Rich renders, markup not interpreted)."""
    from rich.protocol import rich_cast
    from rich.text import Text

    drawn = rich_cast(screen.table.get_cell(device_id, column))
    assert isinstance(drawn, Text)
    return drawn.plain


async def highlight(pilot: Any, screen: DevicesScreen, device_id: str) -> None:
    screen.go_to_device(device_id)
    await pilot.pause()
    assert screen.table.highlighted_key == device_id


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return signed_in_harness(tmp_path)


# --------------------------------------------------------------------------- the table


async def test_table_lists_the_users_devices_and_marks_this_one(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert set(screen.table.shown_rows) == set(own_devices(harness))
        this_id = app.stored_token.device_id
        assert cell(screen, this_id, "this") == THIS_DEVICE_MARK
        assert cell(screen, this_id, "hostname") == TEST_HOSTNAME
        others = [k for k in screen.table.shown_rows if k != this_id]
        assert all(cell(screen, k, "this") == "" for k in others)
        assert screen.connection == "live"


async def test_status_words_include_expired_for_active_devices_past_their_expiry(harness: Harness) -> None:
    expired = first_with(harness, ACTIVE)
    expired.expires = harness.clock.now() + timedelta(seconds=30)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert cell(screen, expired.id, "status") == "active"
        assert cell(screen, expired.id, "expires") == "in <1 min"
        await next_refresh(pilot, harness, 60)
        assert cell(screen, expired.id, "status") == "expired"
        assert cell(screen, expired.id, "expires") == "just now"


async def test_describe_pane_shows_every_field_of_the_highlighted_device(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = by_hostname(harness, "tokyo-lab-ws-3")
        await highlight(pilot, screen, device.id)
        assert not screen.has_class("-describe-hidden")
        text = str(screen.describe_pane._shown)
        for value in (device.id, device.client_id, device.ip_address, device.os, device.zenml_version,
                      device.python_version, "Failed attempts"):
            assert value in text


async def test_j_and_k_move_like_the_arrows(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert screen.table.cursor_row == 0
        await pilot.press("j", "j")
        assert screen.table.cursor_row == 2
        await pilot.press("k")
        assert screen.table.cursor_row == 1
        await pilot.press("down")
        assert screen.table.cursor_row == 2


# --------------------------------------------------------------------------- lock / unlock / delete


async def test_lock_asks_naming_the_device_and_y_locks_it_on_the_server(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = first_with(harness, ACTIVE)
        await highlight(pilot, screen, device.id)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        body = app.screen.query_one("#confirm-body").render()
        text = str(body)
        assert device.hostname in text and device.ip_address in text and device.id[:8] in text
        assert not app.screen.query("#confirm-warning")
        await pilot.press("y")
        await wait_for(pilot, lambda: harness.demo.devices[device.id].status == LOCKED, "the lock")
        await wait_for(pilot, lambda: cell(screen, device.id, "status") == "locked", "the row")
        assert drawn_cell(screen, device.id, "status") == "locked"


async def test_unlock_a_locked_device(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = first_with(harness, LOCKED)
        await highlight(pilot, screen, device.id)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: cell(screen, device.id, "status") == "active", "the row")
        assert harness.demo.devices[device.id].status == ACTIVE


async def test_delete_removes_the_row(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = first_with(harness, ACTIVE)
        await highlight(pilot, screen, device.id)
        rows = screen.table.row_count
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: device.id not in screen.table.shown_rows, "the row to go")
        assert device.id not in harness.demo.devices
        assert screen.table.row_count == rows - 1


@pytest.mark.parametrize("key", ["n", "escape"])
@pytest.mark.parametrize("action", ["l", "d"])
async def test_cancel_changes_nothing(harness: Harness, key: str, action: str) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = first_with(harness, ACTIVE)
        await highlight(pilot, screen, device.id)
        requests = harness.demo.request_count
        await pilot.press(action)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press(key)
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        await pilot.pause()
        assert harness.demo.request_count == requests
        assert harness.demo.devices[device.id].status == ACTIVE
        assert cell(screen, device.id, "status") == "active"


@pytest.mark.parametrize("action", ["l", "d"])
async def test_dialog_for_this_device_says_the_session_ends(harness: Harness, action: str) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, app.stored_token.device_id)
        await pilot.press(action)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        warning = str(app.screen.query_one("#confirm-warning").render())
        assert "ends this session" in warning and "sign in again" in warning
        await pilot.press("n")


async def test_actions_that_do_not_apply_are_disabled_and_do_nothing(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        active = first_with(harness, ACTIVE)
        await highlight(pilot, screen, active.id)
        assert screen.check_action("unlock", ()) is None
        await pilot.press("u")
        await pilot.pause()
        assert app.screen is screen
        locked = first_with(harness, LOCKED)
        await highlight(pilot, screen, locked.id)
        assert screen.check_action("lock", ()) is None
        await pilot.press("l")
        await pilot.pause()
        assert app.screen is screen
        # The footer shows them greyed out, not hidden.
        bindings = {b.binding.action: b.enabled for b in screen.active_bindings.values()}
        assert bindings["lock"] is False and bindings["unlock"] is True


async def test_read_only_disables_lock_unlock_and_delete(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path, read_only=True)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        statuses = {k: d.status for k, d in harness.demo.devices.items()}
        for status in (ACTIVE, LOCKED):
            await highlight(pilot, screen, first_with(harness, status).id)
            for key in ("l", "u", "d"):
                await pilot.press(key)
                await pilot.pause()
                assert app.screen is screen, key
            for action in ("lock", "unlock", "delete"):
                assert not screen.check_action(action, ())
        assert {k: d.status for k, d in harness.demo.devices.items()} == statuses
        assert "read-only" in screen._summary()


async def test_action_on_a_device_deleted_elsewhere_says_so_and_refreshes(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = first_with(harness, ACTIVE)
        await highlight(pilot, screen, device.id)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        del harness.demo.devices[device.id]  # deleted in the dashboard meanwhile
        await pilot.press("y")
        await wait_for(pilot, lambda: device.id not in screen.table.shown_rows, "the refresh after the 404")
        messages = [str(n.message) for n in app._notifications]
        assert any("is gone" in m and device.hostname in m for m in messages), messages


async def test_failed_action_is_a_notification_and_the_row_stays(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = first_with(harness, ACTIVE)
        await highlight(pilot, screen, device.id)
        harness.demo.fail_next(403, {"detail": ["IllegalOperationError", "Not allowed."]}, path_contains=device.id)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Lock failed" == n.title for n in app._notifications), "the error")
        assert harness.demo.devices[device.id].status == ACTIVE
        assert cell(screen, device.id, "status") == "active"
        message = next(str(n.message) for n in app._notifications if n.title == "Lock failed")
        assert "Not allowed" in message and device.hostname in message


# --------------------------------------------------------------------------- the session ends


async def test_locking_this_device_elsewhere_returns_to_sign_in(harness: Harness) -> None:
    from zenml_devices_tui.ui.screens.login import LoginScreen

    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        this_id = app.stored_token.device_id
        harness.demo.devices[this_id].status = LOCKED  # locked in the dashboard
        await next_refresh(pilot, harness)
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), "the sign-in screen")
        assert app.stored_token is None
        await wait_for(pilot, lambda: harness.context.token_store.get(harness.demo.base_url) is None, "forgetting")


async def test_locking_this_device_here_ends_the_session(harness: Harness) -> None:
    from zenml_devices_tui.ui.screens.login import LoginScreen

    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        this_id = app.stored_token.device_id
        await highlight(pilot, screen, this_id)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), "the sign-in screen")
        assert app.stored_token is None
        assert any(n.title == "Locked" for n in app._notifications)
        # (The sign-in screen starts a new device login with the same client id, which the server
        # answers by resetting this device from locked to pending.)
        assert harness.demo.devices[this_id].status in (LOCKED, "pending")


# --------------------------------------------------------------------------- live refresh


async def test_refresh_keeps_the_cursor_on_the_same_device_when_rows_appear_above(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = by_hostname(harness, "tokyo-lab-ws-3")
        await highlight(pilot, screen, device.id)
        row_before = screen.table.cursor_row
        for i in range(3):
            add_demo_device(harness, f"aaa-new-{i}")
        await next_refresh(pilot, harness)
        assert screen.table.highlighted_key == device.id
        assert screen.table.cursor_row == row_before + 3
        assert screen.table.get_row_index(device.id) == row_before + 3


async def test_refresh_updates_changed_cells_and_removes_deleted_rows_in_place(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        table = screen.table
        locked = first_with(harness, ACTIVE)
        gone = first_with(harness, ACTIVE, exclude=locked.hostname)
        harness.demo.devices[locked.id].status = LOCKED
        del harness.demo.devices[gone.id]
        updates: list[tuple[Any, ...]] = []
        original = table.update_cell

        def spy(*args: Any, **kw: Any) -> None:
            updates.append(args)
            original(*args, **kw)

        table.update_cell = spy  # type: ignore[method-assign]
        cleared: list[bool] = []
        table.clear = lambda *a, **k: cleared.append(True)  # type: ignore[method-assign]
        await next_refresh(pilot, harness)
        assert cell(screen, locked.id, "status") == "locked"
        assert gone.id not in table.shown_rows
        assert [a[:2] for a in updates] == [(locked.id, "status")]
        assert not cleared
        # Nothing changed: the next refresh does not touch the table.
        updates.clear()
        update_count = table._update_count
        await next_refresh(pilot, harness)
        assert updates == [] and table._update_count == update_count


async def test_an_idle_refresh_writes_one_line_to_the_terminal(harness: Harness) -> None:
    from textual._compositor import CompositorUpdate

    app = DevicesApp(harness.context)
    writes: list[str] = []
    display = app._display

    def spy(screen: Any, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate):
            writes.append(renderable.render_segments(app.console))
        display(screen, renderable)

    app._display = spy  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.pause(0.2)
        for _ in range(2):
            writes.clear()
            await next_refresh(pilot, harness)
            await pilot.pause(0.1)
            # Only "last refresh 12:00:05 UTC" changed: one line of the header.
            assert len(writes) == 1 and writes[0].startswith("\x1b[2;"), writes
            assert len(writes[0]) < 400


async def test_r_refreshes_now(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        add_demo_device(harness, "brand-new-box")
        before = screen.refresh_count
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.refresh_count > before, "the refresh")
        assert any(cell(screen, k, "hostname") == "brand-new-box" for k in screen.table.shown_rows)


async def test_a_failed_refresh_marks_the_data_stale_and_keeps_the_rows(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        rows = dict(screen.table.shown_rows)
        harness.demo.fail_next(503, path_contains="/devices")
        await next_refresh(pilot, harness)
        assert screen.connection == "stale"
        assert screen.table.shown_rows == rows
        header = screen.query_one(DevicesHeader).plain
        assert "stale since 12:00:05 UTC" in header
        assert "503" in header
        assert "Next try in 5 s" in header
        # It keeps retrying, with back-off, and recovers.
        harness.demo.fail_next(503, path_contains="/devices")
        await next_refresh(pilot, harness, 5)
        assert screen.connection == "stale" and screen.retry_delay == 10
        assert screen.table.shown_rows == rows
        assert "stale since 12:00:05 UTC" in screen.query_one(DevicesHeader).plain
        requests = harness.demo.request_count
        harness.clock.advance(5)
        await pilot.pause()
        assert harness.demo.request_count == requests  # not yet: 10 s this time
        await next_refresh(pilot, harness, 5)
        assert screen.connection == "live"
        assert screen.stale_since is None and screen.problem is None


async def test_rate_limit_waits_as_long_as_the_server_asks(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        harness.demo.fail_next(429, path_contains="/devices", headers={"Retry-After": "30"})
        await next_refresh(pilot, harness)
        assert screen.connection == "stale"
        assert screen.retry_delay == 30
        assert "rate limiting" in (screen.problem or "")


async def test_refresh_waits_while_a_dialog_is_open(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        requests = harness.demo.request_count
        await wait_for(pilot, lambda: harness.clock.sleepers >= 1, "the refresh loop to wait")
        for _ in range(5):
            harness.clock.advance(10)
            await pilot.pause()
        assert harness.demo.request_count == requests
        before = screen.refresh_count
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.refresh_count > before, "the refresh after the dialog")


async def test_one_refresh_at_a_time(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await wait_for(pilot, lambda: harness.clock.sleepers >= 1, "the refresh loop to wait")
        await pilot.pause()
        # Exactly one sleeper: the refresh loop waiting for the next turn.
        assert harness.clock.sleepers == 1
        requests = harness.demo.request_count
        harness.clock.advance(100)  # a long stall does not queue up a backlog of refreshes
        await wait_for(pilot, lambda: harness.clock.sleepers == 1 and screen.refresh_count >= 2, "the refresh")
        await pilot.pause()
        assert harness.demo.request_count - requests == 1


async def test_bulk_adds_and_removes_keep_the_table_consistent(tmp_path: Path) -> None:
    """The table adds and removes rows in bulk (its own code, not DataTable's): check the bookkeeping."""
    harness = signed_in_harness(tmp_path, device_count=1500)
    app = DevicesApp(harness.context)

    def consistent(screen: DevicesScreen) -> None:
        table = screen.table
        order = [table._row_locations.get_key(i).value for i in range(table.row_count)]
        assert order == table.shown_order
        assert set(table.rows) == set(table._data) == {k for k in table.shown_order}
        assert table.row_count == len(table.shown_rows)
        for key in order[:50]:
            drawn = tuple(c.plain for c in table.get_row(key))
            assert drawn[1:] == tuple(v or "–" for v in table.shown_rows[key][1:])
            assert drawn[0] == table.shown_rows[key][0]

    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert screen.table.row_count == len(own_devices(harness))
        consistent(screen)
        target = screen.table.shown_order[700]
        await highlight(pilot, screen, target)
        screen.filter_input.value = "-1"
        await pilot.pause()
        consistent(screen)
        assert 0 < screen.table.row_count < 1500
        screen.filter_input.value = ""
        await pilot.pause()
        consistent(screen)
        assert screen.table.row_count == len(own_devices(harness))
        await pilot.press("s")
        consistent(screen)
        for key in list(own_devices(harness))[:200]:
            if key != app.stored_token.device_id:
                del harness.demo.devices[key]
        await next_refresh(pilot, harness)
        consistent(screen)
        assert screen.table.row_count == len(own_devices(harness))


# --------------------------------------------------------------------------- filter and sort


async def test_filter_narrows_live_enter_focuses_the_first_match_escape_clears(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        total = screen.table.row_count
        await pilot.press("j", "j", "j")
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"CI-RUN")
        hosts = [cell(screen, k, "hostname") for k in screen.table.shown_order]
        assert hosts and all("ci-run" in h for h in hosts)
        expected = sorted(d.hostname for d in own_devices(harness).values() if "ci-run" in (d.hostname or ""))
        assert hosts == expected
        await pilot.press("enter")
        assert app.focused is screen.table
        assert screen.table.cursor_row == 0
        assert screen.table.highlighted_key == screen.table.shown_order[0]
        await pilot.press("escape")
        assert screen.table.row_count == total
        assert screen.filter_text == ""
        assert not screen.filter_shown


async def test_filter_matches_ip_status_os_location_and_id(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = by_hostname(harness, "tokyo-lab-ws-3")
        for needle in (device.ip_address, device.id[:13], "tokyo", "LOCKED"):
            screen.filter_input.value = needle
            await pilot.pause()
            assert screen.table.row_count >= 1, needle
            shown = [harness.demo.devices[k] for k in screen.table.shown_order]
            if needle == "LOCKED":
                assert all(d.status == LOCKED for d in shown)
            else:
                assert device.id in screen.table.shown_rows, needle


async def test_escape_in_the_filter_input_clears_it(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        total = screen.table.row_count
        await pilot.press("slash", *"gpu")
        assert screen.table.row_count < total
        await pilot.press("escape")
        assert screen.table.row_count == total
        assert app.focused is screen.table


async def test_s_cycles_the_sort_column_and_S_reverses(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        by_host = list(screen.table.shown_order)
        hosts = [cell(screen, k, "hostname") for k in by_host]
        assert hosts == sorted(hosts)
        await pilot.press("s")
        assert screen.sort_column == "status"
        statuses = [cell(screen, k, "status") for k in screen.table.shown_order]
        order = ["active", "expired", "verified", "pending", "locked"]
        assert statuses == sorted(statuses, key=order.index)
        await pilot.press("s")
        assert screen.sort_column == "trusted"
        await pilot.press("S")
        assert screen.sort_reverse
        trusted = [cell(screen, k, "trusted") for k in screen.table.shown_order]
        assert trusted == sorted(trusted)  # "no" before "yes": trusted first reversed
        assert "▼" in screen.table.columns["trusted"].label.plain  # type: ignore[index]


async def test_clicking_a_header_sorts_by_it(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        table = screen.table
        x = sum(c.get_render_width(table) for c in table.ordered_columns[: COLUMN_INDEX["status"]])
        await pilot.click("#devices-table", offset=(x + 2, 0))
        await pilot.pause()
        assert screen.sort_column == "status" and not screen.sort_reverse
        await pilot.click("#devices-table", offset=(x + 2, 0))
        await pilot.pause()
        assert screen.sort_reverse


# --------------------------------------------------------------------------- text from the server


async def test_markup_in_server_strings_is_shown_literally(harness: Harness) -> None:
    bold = add_demo_device(harness, "[b]x[/b]", city="[red]Paris[/red]", country="FR")
    link = add_demo_device(harness, "[link=https://x.io]y[/link]", ip_address="10.0.0.99",
                           region="[link=https://example.com]y[/link]")
    app = DevicesApp(harness.context)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await loaded(pilot)
        assert drawn_cell(screen, bold.id, "hostname") == "[b]x[/b]"
        assert drawn_cell(screen, bold.id, "location") == "[red]Paris[/red], FR"
        assert drawn_cell(screen, link.id, "hostname") == "[link=https://x.io]y[/link]"
        await highlight(pilot, screen, bold.id)
        await pilot.pause()
        svg = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert "[b]x[/b]" in svg
        assert "[link=https://x.io]y[/link]" in svg
        assert "[red]Paris[/red]" in svg
        await highlight(pilot, screen, link.id)
        await pilot.pause()
        svg = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        # The region, in the describe pane (folded over two lines there).
        assert "[link=https://example.com]" in svg
        assert ("Region", "[link=https://example.com]y[/link]") in screen.describe_pane._shown[2]


# --------------------------------------------------------------------------- other keys


async def test_c_copies_the_device_id(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = by_hostname(harness, "tokyo-lab-ws-3")
        await highlight(pilot, screen, device.id)
        await pilot.press("c")
        assert app.clipboard == device.id
        assert any(n.title == "Copied" for n in app._notifications)


async def test_enter_toggles_the_describe_pane(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        pane = screen.describe_pane
        assert screen.has_class("-narrow")
        assert screen.has_class("-describe-hidden")
        await pilot.press("enter")
        assert not screen.has_class("-describe-hidden")
        await pilot.pause()
        assert pane.region.height > 0 and pane.region.y > screen.table.region.y
        await pilot.press("enter")
        assert screen.has_class("-describe-hidden")


async def test_help_lists_every_binding_with_its_id(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        entries = {e.binding_id: e for e in app.screen.entries if e.binding_id}
        expected = {
            "devices.lock": "l", "devices.unlock": "u", "devices.delete": "d", "devices.refresh": "r",
            "devices.filter": "/", "devices.sort": "s", "devices.sort_reverse": "S", "devices.copy_id": "c",
            "devices.describe": "⏎", "devices.down": "j", "devices.up": "k", "devices.clear_filter": "esc",
            "quit": "q", "help": "?",
        }
        for binding_id, key in expected.items():
            assert binding_id in entries, binding_id
            assert entries[binding_id].keys.lower() == key.lower(), (binding_id, entries[binding_id].keys)
        described = " ".join(e.description for e in app.screen.entries)
        assert "Sign out" in described and "Switch server" in described and "Go to device" in described
        svg = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert "devices.lock" in svg
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "help to close")
        for key in ("q", "question_mark"):
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen is screen, "help to close")


async def test_keymap_remaps_lock(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path, keymap={"devices.lock": "x"})
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, first_with(harness, ACTIVE).id)
        await pilot.press("l")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        lock = next(e for e in app.screen.entries if e.binding_id == "devices.lock")
        assert lock.keys == "x"


async def test_command_palette_goes_to_a_device(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = by_hostname(harness, "tokyo-lab-ws-3")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"go to device tokyo-lab")
        palette = app.screen

        def options() -> list[str]:
            option_list = palette.query_one("CommandList")
            return [str(option_list.get_option_at_index(i).prompt) for i in range(option_list.option_count)]

        await wait_for(pilot, lambda: any("Go to device tokyo-lab-ws-3" in o for o in options()), "the hit")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen is screen, "the palette to close")
        await wait_for(pilot, lambda: screen.table.highlighted_key == device.id, "the cursor")


async def test_command_palette_offers_the_actions_that_apply(harness: Harness) -> None:
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, first_with(harness, ACTIVE).id)
        titles = [t for t, _, _ in screen.palette_commands()]
        for title in ("Lock device", "Delete device", "Refresh now", "Filter devices", "Sort by next column",
                      "Reverse sort order", "Copy device id", "Sign out", "Switch server", "Sort by last login"):
            assert title in titles
        assert "Unlock device" not in titles
        devices = [t for t, _, _ in screen.palette_devices()]
        assert "Go to device tokyo-lab-ws-3" in devices


async def test_sign_out_from_the_palette(harness: Harness) -> None:
    from zenml_devices_tui.ui.screens.login import LoginScreen

    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        callback = next(cb for t, _, cb in screen.palette_commands() if t == "Sign out")
        callback()
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), "the sign-in screen")
        await wait_for(pilot, lambda: harness.context.token_store.get(harness.demo.base_url) is None, "forgetting")


async def test_small_terminal_stays_usable(tmp_path: Path) -> None:
    harness = signed_in_harness(tmp_path)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        table = screen.table
        assert table.region.height >= 12
        assert table.region.width == 80
        await pilot.press("j")
        assert table.cursor_row == 1


@pytest.mark.parametrize("theme", ["ansi-dark", "ansi-light", "textual-light"])
async def test_themes_restyle_the_status_words(harness: Harness, theme: str) -> None:
    from rich.protocol import rich_cast

    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        device = first_with(harness, LOCKED)
        before = rich_cast(screen.table.get_cell(device.id, "status")).style
        app.theme = theme
        await pilot.pause()
        after = rich_cast(screen.table.get_cell(device.id, "status"))
        assert after.plain == "locked"  # the word stays; only the colour follows the theme
        if theme.startswith("ansi"):
            assert after.style != before
            assert after.style.color.number is not None  # a terminal palette colour, not RGB
        assert "locked" in html.unescape(app.export_screenshot())


# --------------------------------------------------------------------------- the row model (no UI)


def test_plan_update_diffs_by_key_and_cell() -> None:
    from zenml_devices_tui.ui.widgets.device_rows import plan_update

    old = {"a": ("1", "x"), "b": ("2", "y"), "c": ("3", "z")}
    new = {"a": ("1", "x"), "c": ("3", "Z"), "d": ("4", "w")}
    plan = plan_update(old, ["a", "b", "c"], new, ["a", "c", "d"])
    assert plan.remove == ["b"]
    assert plan.add == [("d", ("4", "w"))]
    assert plan.change == [("c", 1, "Z")]
    assert plan.order is None
    plan = plan_update(old, ["a", "b", "c"], dict(old), ["c", "b", "a"])
    assert plan.order == ["c", "b", "a"] and not plan.add and not plan.change
    assert plan_update(old, ["a", "b", "c"], dict(old), ["a", "b", "c"]).empty


def test_sort_keys_handle_missing_values_ips_and_versions() -> None:
    from zenml_devices_tui.core.clock import FIXED_START
    from zenml_devices_tui.core.models import Device
    from zenml_devices_tui.ui.widgets.device_rows import sort_devices

    def dev(i: int, **kw: Any) -> Device:
        return Device(id=f"00000000-0000-0000-0000-00000000000{i}", status="active", **kw)

    devices = [dev(1, ip_address="10.0.0.10", python_version="3.10.1"), dev(2, ip_address="10.0.0.9",
               python_version="3.9.7"), dev(3)]
    ips = [d.id[-1] for d in sort_devices(devices, "ip", False, FIXED_START)]
    assert ips == ["2", "1", "3"]
    versions = [d.id[-1] for d in sort_devices(devices, "python", False, FIXED_START)]
    assert versions == ["2", "1", "3"]
    expires = [d.id[-1] for d in sort_devices(
        [dev(1, expires=FIXED_START), dev(2), dev(3, expires=FIXED_START - timedelta(days=1))],
        "expires", False, FIXED_START)]
    assert expires == ["3", "1", "2"]  # "never" last


async def test_insecure_mode_is_flagged_in_the_header_for_as_long_as_the_app_runs(harness: Harness) -> None:
    from zenml_devices_tui.ui.widgets.header import DevicesHeader

    harness.context.insecure = True
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert "TLS not verified" in screen.query_one(DevicesHeader).plain
        await next_refresh(pilot, harness)
        assert "TLS not verified" in screen.query_one(DevicesHeader).plain


async def test_a_verified_connection_has_no_tls_warning(harness: Harness) -> None:
    from zenml_devices_tui.ui.widgets.header import DevicesHeader

    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert "TLS not verified" not in screen.query_one(DevicesHeader).plain
