"""Regenerate the SVGs in screenshots/ from the demo server (``make screenshots``).

Each picture is the same state as a snapshot test (same fixed clock, hostname and demo
seed), so the README shows exactly what the tests pin down.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import test_ui_devices_snapshots as devices  # noqa: E402
from tests import test_ui_login_snapshots as login  # noqa: E402
from zenml_devices_tui.ui.app import DevicesApp  # noqa: E402

OUT = ROOT / "screenshots"

RunBefore = Callable[[Any], Awaitable[None]]


class _Capture:
    """Stands in for the ``snap_compare`` fixture: keeps the app, size and run_before."""

    def __call__(self, app: DevicesApp, terminal_size: tuple[int, int], run_before: RunBefore) -> bool:
        self.app, self.size, self.run_before = app, terminal_size, run_before
        return True


SHOTS: list[tuple[str, str, Callable[..., None]]] = [
    ("login", "Sign in (120x40)", login.test_login_120x40),
    ("login-80x24", "Sign in at 80x24", login.test_login_80x24),
    ("qr", "The link as a QR code", login.test_qr_view_100x32),
    ("devices", "Devices with the describe pane (120x40)", devices.test_devices_wide_with_describe_pane),
    ("devices-80x24", "Devices at 80x24, describe pane toggled with enter", devices.test_devices_80x24_with_describe_pane),
    ("lock-dialog", "Locking a device", devices.test_lock_dialog),
    ("help", "Help: every key and its binding id", devices.test_help_screen),
]


async def shoot(name: str, title: str, test: Callable[..., None], tmp: Path) -> Path:
    capture = _Capture()
    test(capture, tmp / name)
    app = capture.app
    async with app.run_test(size=capture.size) as pilot:
        await capture.run_before(pilot)
        await pilot.pause()
        path = OUT / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"zenml-devices: {title}"), encoding="utf-8")
    return path


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, title, test in SHOTS:
            path = await shoot(name, title, test, Path(tmp))
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
