"""How the sign-in screens look: SVG snapshots at 80x24 and 120x40 (pytest-textual-snapshot).

Everything that could change between runs is fixed: the FakeClock (so the countdown reads
5:00), the hostname (tests/uihelpers.TEST_HOSTNAME), the client id, and the demo server's
codes (its random generator is seeded with ``rng_seed``). Update with ``--snapshot-update``
after an intended change, and look at the pictures first.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from tests.uihelpers import make_harness
from zenml_devices_tui.ui.app import SESSION_ENDED, DevicesApp
from zenml_devices_tui.ui.screens.login import LoginScreen
from zenml_devices_tui.ui.screens.qr import QRScreen
from zenml_devices_tui.ui.screens.server import ServerScreen


def login_app(tmp_path: Path, **kwargs: object) -> DevicesApp:
    harness = make_harness(tmp_path, auto_approve_after=None, rng_seed=7, **kwargs)  # type: ignore[arg-type]
    return DevicesApp(harness.context)


async def until(pilot: Pilot, condition, tries: int = 200) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if condition():
            return
        await pilot.pause()
    raise AssertionError("the app did not reach the state to snapshot")


async def show_link(pilot: Pilot) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, LoginScreen) and pilot.app.screen.phase == "waiting")


async def show_qr(pilot: Pilot) -> None:
    await show_link(pilot)
    await pilot.press("v")
    await until(pilot, lambda: isinstance(pilot.app.screen, QRScreen))


async def show_notice(pilot: Pilot) -> None:
    await show_link(pilot)
    app = pilot.app
    app.call_later(app.show_login, SESSION_ENDED)  # type: ignore[attr-defined]
    await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.notice == SESSION_ENDED
                and app.screen.phase == "waiting")


def test_login_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(login_app(tmp_path), terminal_size=(80, 24), run_before=show_link)


def test_login_120x40(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(login_app(tmp_path), terminal_size=(120, 40), run_before=show_link)


def test_login_with_notice_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(login_app(tmp_path), terminal_size=(80, 24), run_before=show_notice)


def test_login_expired_80x24(snap_compare, tmp_path: Path) -> None:
    harness = make_harness(tmp_path, auto_approve_after=None, rng_seed=7)

    async def show_expired(pilot: Pilot) -> None:
        await show_link(pilot)
        harness.clock.advance(301)
        await until(pilot, lambda: pilot.app.screen.phase == "expired")

    assert snap_compare(DevicesApp(harness.context), terminal_size=(80, 24), run_before=show_expired)


def test_qr_view_100x32(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(login_app(tmp_path), terminal_size=(100, 32), run_before=show_qr)


def test_qr_view_80x24(snap_compare, tmp_path: Path) -> None:
    """At 80x24 the code still fits: error correction L and a 2-module quiet zone."""
    assert snap_compare(login_app(tmp_path), terminal_size=(80, 24), run_before=show_qr)


def test_server_screen_80x24(snap_compare, tmp_path: Path) -> None:
    async def ready(pilot: Pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, ServerScreen))
        field = pilot.app.screen.query_one("#server-url", Input)
        field.cursor_blink = False
        await pilot.press(*"http://zenml.example.com", "enter")
        await pilot.pause()

    assert snap_compare(login_app(tmp_path, server_url=None), terminal_size=(80, 24), run_before=ready)
