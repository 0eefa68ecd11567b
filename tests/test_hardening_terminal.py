"""The terminal: resized to 40x12 and back, taken away (an SSH link drops), and fed hostile server strings.

* Every screen survives a resize down to 40x12 and back, and still works afterwards.
* ``zenml-devices --demo`` on a real pty exits soon after the terminal goes away: with
  the kernel's SIGHUP (the pty is its controlling terminal), with SIGHUP alone, and with
  no SIGHUP at all (where Textual's input thread would otherwise spin on EOF for ever).
* The real app on a pty, against a server that sends ANSI CSI, OSC 8, OSC 52, C1 controls,
  bidi overrides and Rich/Textual markup in every string: none of those sequences reach
  the terminal's bytes, and the markup is drawn as literal characters (checked on a pyte
  emulated screen). The token and device code appear neither in the terminal's bytes nor
  in the TEXTUAL_LOG file.
* Notifications that quote server text or local paths draw markup literally instead of
  crashing on it.
"""

from __future__ import annotations

import html
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults import (
    APP_CMD,
    BAD_MARKUP,
    FORBIDDEN_OUTPUT,
    HOSTILE_MODE_ENV,
    HOSTILE_SECRETS_ENV,
    MARKER,
    PYTHON,
    REPO_ROOT,
    RICH_MARKUP,
    TEXTUAL_ACTION,
    PtyProcess,
    app_env,
    until_approved_and_loaded,
    leaked,
    screen_lines,
    wait_until,
)
from tests.uihelpers import make_harness, signed_in_harness
from zenml_devices_tui.core.errors import ZenMLError
from zenml_devices_tui.ui.app import DevicesApp

pytestmark = pytest.mark.skipif(os.name != "posix", reason="ptys and signals")

HOSTILE_CMD = [PYTHON, "-c", "from tests.faults import run_hostile_app; run_hostile_app()"]


# --------------------------------------------------------------------------- resizing


async def _resize_round_trip(pilot: Any, what: str) -> None:
    app = pilot.app
    screen = app.screen
    for size in ((40, 12), (120, 40)):
        await pilot.resize_terminal(*size)
        await pilot.pause()
        assert app.size == size, what
        if size[0] < 100:
            app.export_screenshot()  # renders every widget at the small size
        assert app.is_running and not app._exit_renderables, f"{what} at {size}"
        assert app.screen is screen, what


async def test_every_screen_survives_40x12_and_back(tmp_path: Path) -> None:
    from zenml_devices_tui.ui.screens.confirm import ConfirmScreen
    from zenml_devices_tui.ui.screens.help import HelpScreen
    from zenml_devices_tui.ui.screens.login import LoginScreen
    from zenml_devices_tui.ui.screens.qr import QRScreen

    harness = make_harness(tmp_path, auto_approve_after=3.0)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(lambda: isinstance(app.screen, LoginScreen) and app.screen.phase == "waiting",
                         "the sign-in link", pilot=pilot)
        await _resize_round_trip(pilot, "login")
        await pilot.press("v")
        await wait_until(lambda: isinstance(app.screen, QRScreen), "the QR view", pilot=pilot)
        await _resize_round_trip(pilot, "qr")
        await pilot.press("escape")
        screen = await until_approved_and_loaded(pilot, harness.clock)
        await _resize_round_trip(pilot, "devices")
        await pilot.press("enter", "slash")  # describe pane and filter bar, then shrink again
        await pilot.resize_terminal(20, 6)  # smaller than anything sensible, too
        await pilot.pause()
        await _resize_round_trip(pilot, "devices with pane and filter")
        await pilot.press("escape")
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen), "help", pilot=pilot)
        await _resize_round_trip(pilot, "help")
        await pilot.press("escape")
        await wait_until(lambda: app.screen is screen, "back to the table", pilot=pilot)
        await pilot.press("d")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), "the dialog", pilot=pilot)
        await _resize_round_trip(pilot, "confirm")
        await pilot.press("n")
        await wait_until(lambda: app.screen is screen, "back to the table", pilot=pilot)
        # Still works after all that: the cursor moves, a refresh lands.
        row = screen.table.cursor_row
        await pilot.press("j")
        assert screen.table.cursor_row == row + 1
        count = screen.refresh_count
        harness.clock.advance(harness.context.refresh_interval)
        await wait_until(lambda: screen.refresh_count > count, "a refresh", pilot=pilot)
        assert screen.connection == "live"


# --------------------------------------------------------------------------- the terminal goes away


@pytest.mark.parametrize("how", ["hangup", "terminal-gone-no-sighup", "sighup"])
def test_the_app_exits_when_the_terminal_goes_away(tmp_path: Path, how: str) -> None:
    """``hangup``: the pty is the controlling terminal and its master closes (the kernel sends SIGHUP);
    ``terminal-gone-no-sighup``: the master closes but no SIGHUP is delivered; ``sighup``: only the signal."""
    env = app_env(tmp_path / "home")
    pty = PtyProcess([*APP_CMD, "--demo"], env=env, cols=100, rows=30, cwd=str(REPO_ROOT),
                     controlling_tty=how == "hangup")
    try:
        assert pty.read_until(lambda out: b"Sign in to ZenML" in out or b"ZenML" in out, timeout=30), (
            "the app never drew anything: " + pty.output[-500:].decode("utf-8", "replace"))
        if how == "sighup":
            os.kill(pty.proc.pid, signal.SIGHUP)
        else:
            pty.close_master()
        if not pty.wait_gone(timeout=8):
            before = pty.cpu_seconds()
            time.sleep(1.0)
            busy = pty.cpu_seconds() - before
            pytest.fail(f"still running 8 s after the terminal went away ({how}), using {busy:.2f} s of CPU a second")
        assert pty.proc.returncode != 0 or how == "terminal-gone-no-sighup"
    finally:
        pty.kill()


# --------------------------------------------------------------------------- hostile strings, real terminal


def _run_hostile(tmp_path: Path, mode: str) -> tuple[bytes, list[str], str, str]:
    secrets = tmp_path / "secret"
    log = tmp_path / "textual.log"
    env = app_env(tmp_path / "home", **{HOSTILE_MODE_ENV: mode, HOSTILE_SECRETS_ENV: str(secrets),
                                        "TEXTUAL_LOG": str(log)})
    cols, rows = 160, 45
    pty = PtyProcess(HOSTILE_CMD, env=env, cols=cols, rows=rows, cwd=str(REPO_ROOT))
    try:
        ready = (lambda out: b"stale since" in out) if mode == "devices" else (lambda out: b"Expires in" in out)
        assert pty.read_until(ready, timeout=30), pty.output[-800:].decode("utf-8", "replace")
        pty.settle()
        shown = screen_lines(pty.output, cols, rows)
        pty.write(b"q")
        assert pty.wait_gone(timeout=10), "q did not quit"
        assert pty.proc.returncode == 0
        time.sleep(0.1)
        return pty.output, shown, secrets.read_text(), log.read_text() if log.exists() else ""
    finally:
        pty.kill()


def _no_escape_from_the_payloads(output: bytes) -> None:
    assert output.count(b"\x1b]52") == 0, "an OSC 52 (clipboard) sequence reached the terminal"
    found = [seq for seq in FORBIDDEN_OUTPUT if seq in output]
    assert found == [], f"payload sequences reached the terminal: {found}"
    assert b"\x1b[2J\x1b[H10.0.0.1" not in output
    assert b"\x07" + MARKER.encode() not in output
    # The only OSC 8 links drawn are the app's own (none on the devices screen).
    assert b"\x1b]8;;https://evil.example" not in output and b"evil.example/" + MARKER.encode() not in output


def test_hostile_device_records_are_drawn_as_text(tmp_path: Path) -> None:
    output, shown, token, log = _run_hostile(tmp_path, "devices")
    screen = "\n".join(shown)
    _no_escape_from_the_payloads(output)
    # Markup from the server is on screen as the characters it is made of.
    for literal in ("[link=https://evil.example]" + MARKER + "[/link]",  # the server's name
                    "[@click=app.quit]" + MARKER + "[/]",  # a hostname
                    "[bold red]" + MARKER + "[/bold red]",  # a city
                    "[i]ada[/i]", "[b]Ada[/b]",  # the user's names
                    "[red]server says[/red]"):  # the error message of a failed refresh
        assert literal in screen, f"{literal!r} is not drawn literally:\n{screen}"
    # The escape sequences lost their ESC and show as harmless text.
    assert "]52;c;" in screen and "[2J[H10.0.0.1" in screen
    # The clear-screen payload did not clear anything: the table is still there.
    assert "test-laptop" in screen and "stale since" in screen
    # No secret in the terminal or in Textual's log.
    assert token and leaked(token, output.decode("utf-8", "replace")) is None
    assert log and leaked(token, log) is None


def test_a_hostile_verification_link_is_drawn_as_text(tmp_path: Path) -> None:
    output, shown, device_code, log = _run_hostile(tmp_path, "login")
    screen = "\n".join(shown)
    _no_escape_from_the_payloads(output)
    # The link is whole, with its markup and the remains of its escapes as plain characters.
    flat = "".join(line.strip().strip("│").strip() for line in shown)
    assert "&x=]52;c;" in flat and "&y=[b]" + MARKER + "[/b][31m" + MARKER + "[0m" in flat, screen
    assert "[link=https://evil.example]" + MARKER + "[/link]" in screen  # the server's name
    # Its OSC 8 hyperlink (the app's own) carries no escape from the payload either.
    for start in range(len(output)):
        start = output.find(b"\x1b]8;", start)
        if start < 0:
            break
        end = output.find(b"\x1b\\", start + 4)
        assert b"\x1b" not in output[start + 4:end] and b"\x07" not in output[start + 4:end]
    assert device_code and leaked(device_code, output.decode("utf-8", "replace")) is None
    assert log and leaked(device_code, log) is None


# --------------------------------------------------------------------------- notifications quote text literally


async def test_notifications_with_markup_in_them_are_drawn_literally(tmp_path: Path) -> None:
    """A worker error quoting the server, a token-file notice naming a path with brackets, a theme name."""
    from zenml_devices_tui.core.config import AppConfig
    from zenml_devices_tui.core.token_store import TOKENS_FILE, open_token_store

    home = tmp_path / "a[/]b[bold]"  # (that is a[ / ]b[bold])
    home.mkdir(mode=0o700, parents=True)
    (home / TOKENS_FILE).write_text("{not json")
    harness = signed_in_harness(tmp_path)
    token = harness.context.token_store.get(harness.demo.base_url)
    harness.context.token_store = open_token_store(home, backend="file")
    harness.context.token_store.put(token)
    harness.context.config = AppConfig(theme=BAD_MARKUP)
    app = DevicesApp(harness.context)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await pilot.pause()

        async def failing() -> None:
            raise ZenMLError(BAD_MARKUP + RICH_MARKUP + TEXTUAL_ACTION)

        app.run_worker(failing(), exit_on_error=False)
        await wait_until(lambda: len(app._notifications) >= 3, "the notifications", pilot=pilot)
        await pilot.pause(0.2)
        shot = app.export_screenshot()
        assert app.is_running and not app._exit_renderables
    assert app.return_code in (None, 0)
    messages = [str(n.message) for n in app._notifications]
    assert any("corrupt" in m and "a[/]b[bold]" in m for m in messages), messages
    assert any(RICH_MARKUP in m for m in messages), messages
    drawn = html.unescape(re.sub(r"<[^>]+>", "", shot)).replace("\xa0", " ")
    # The toasts show the markup as text (long messages wrap, so look for short pieces).
    assert "[/]" + MARKER + "[/nope]" in drawn  # the theme name
    assert "[bold red]" in drawn and "[@click=app.quit]" in drawn  # the worker's error
