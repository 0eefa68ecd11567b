"""Snapshots of the devices screen, its dialogs and help (pytest-textual-snapshot).

Fixed size, fixed clock (FakeClock), the demo server's deterministic seed with live changes
off, an isolated config directory. Update with ``pytest --snapshot-update`` after an
intended change, and look at the pictures before accepting them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_ui_devices import by_hostname, loaded, next_refresh, wait_for
from tests.uihelpers import Harness, signed_in_harness
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.confirm import ConfirmScreen
from zenml_devices_tui.ui.screens.help import HelpScreen

FOCUS_HOST = "tokyo-lab-ws-3"


def _app(tmp_path: Path) -> tuple[DevicesApp, Harness]:
    harness = signed_in_harness(tmp_path)
    return DevicesApp(harness.context), harness


def _on(harness: Harness, hostname: str):
    async def run_before(pilot: Any) -> None:
        screen = await loaded(pilot)
        screen.go_to_device(by_hostname(harness, hostname).id)
        await pilot.pause()

    return run_before


def test_devices_wide_with_describe_pane(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_on(harness, FOCUS_HOST))


def test_devices_80x24_with_describe_pane(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await _on(harness, FOCUS_HOST)(pilot)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_devices_80x24_table_only(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_on(harness, FOCUS_HOST))


def test_lock_dialog(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await _on(harness, FOCUS_HOST)(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the dialog")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_lock_dialog_for_this_device(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await _on(harness, "test-laptop")(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the dialog")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_stale_after_a_failed_refresh(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        harness.demo.fail_next(503, path_contains="/devices")
        await next_refresh(pilot, harness)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_filtered(snap_compare: Any, tmp_path: Path) -> None:
    app, harness = _app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press("slash", *"ada", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
