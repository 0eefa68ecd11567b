"""The describe pane: every field of the highlighted device, as literal text."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from zenml_devices_tui.core.format import absolute, absolute_minute, relative, relative_past
from zenml_devices_tui.core.models import Device
from zenml_devices_tui.ui.widgets.theme_styles import status_styles

MISSING = "–"


def describe_fields(device: Device, now: datetime, this_device_id: str | None) -> list[tuple[str, str]]:
    """(label, value) pairs, in the order shown. Plain strings: the pane draws them literally."""
    failed = device.failed_auth_attempts

    this = device.id == this_device_id

    def when(value: datetime | None, none: str, *, past: bool = False, moving: bool = False) -> str:
        if value is None:
            return none
        if moving and this:
            # This app's own requests move these on every refresh: to the minute, so the pane is
            # not drawn again each time.
            return f"{absolute_minute(value)}\n{relative_past(value, now)}"
        return f"{absolute(value)}\n{(relative_past if past else relative)(value, now)}"

    return [
        ("Hostname", device.hostname or MISSING),
        ("This device", "yes (this app's session)" if this else "no"),
        ("Status", device.display_status(now) + (f" (server: {device.status})" if device.display_status(now) != device.status else "")),
        ("Trusted", "yes" if device.trusted_device else "no"),
        ("ID", device.id),
        ("Client ID", device.client_id or MISSING),
        ("Owner", device.user_name or device.user_id or MISSING),
        ("Created", when(device.created, MISSING, past=True)),
        ("Updated", when(device.updated, MISSING, past=True, moving=True)),
        ("Last login", when(device.last_login, "never", past=True, moving=True)),
        ("Expires", when(device.expires, "never")),
        ("IP address", device.ip_address or MISSING),
        ("City", device.city or MISSING),
        ("Region", device.region or MISSING),
        ("Country", device.country or MISSING),
        ("OS", device.os or MISSING),
        ("ZenML", device.zenml_version or MISSING),
        ("Python", device.python_version or MISSING),
        ("Failed attempts", MISSING if failed is None else str(failed)),
    ]


class DescribePane(VerticalScroll):
    """Scrollable property list of one device; shows a hint when there is none."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._body = Static("", id="describe-body")
        self._shown: tuple[object, ...] | None = None
        self._shape: tuple[int, ...] | None = None

    def compose(self):  # type: ignore[override]
        yield self._body

    def on_mount(self) -> None:
        self.border_title = "Device"
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self, _theme: str) -> None:
        shown, self._shown = self._shown, None
        if shown is not None:
            self._draw(shown)

    def show(self, device: Device | None, now: datetime, this_device_id: str | None) -> None:
        if device is None:
            key: tuple[object, ...] = ("none",)
        else:
            key = (device.id, device.display_status(now), tuple(describe_fields(device, now, this_device_id)))
        if key == self._shown:
            return
        self._draw(key)

    def _draw(self, key: tuple[object, ...]) -> None:
        self._shown = key
        if key == ("none",):
            self.border_subtitle = ""
            self._shape = None
            self._body.update(Text("No device highlighted.", style="dim"))
            return
        _, status, fields = key
        styles = status_styles(self.app.current_theme)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in fields:  # type: ignore[misc]
            style = styles.get(str(status), "") if label == "Status" else ""
            grid.add_row(Text(label), Text(value, style=style))
        self.border_subtitle = ""
        # Same lengths, same wrapping, same height: no new layout (which would also repaint the
        # table's scrollbar column beside the pane).
        shape = tuple(len(value) for _, value in fields)  # type: ignore[misc]
        same_shape = shape == self._shape
        self._shape = shape
        self._body.update(Group(grid), layout=not same_shape)
