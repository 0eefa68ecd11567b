"""A yes/no question: ``y`` confirms, ``n`` or Escape cancels. Dismisses with a bool.

:func:`device_action_dialog` builds the question for locking, unlocking or deleting a device.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from zenml_devices_tui.core.models import Device

_VERBS = {"lock": "Lock", "unlock": "Unlock", "delete": "Delete"}
_CONSEQUENCES = {
    "lock": "Its token stops working at once. Unlocking it later restores it.",
    "unlock": "Its token works again (unless it has expired).",
    "delete": "Its token stops working for good; the device must sign in again to come back.",
}


class ConfirmScreen(ModalScreen[bool]):
    """``ConfirmScreen(title, body, confirm_label)``; ``body`` is a ``Text`` (server strings stay literal)."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes"),
        Binding("n", "cancel", "No", id="confirm.no"),
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
    ]

    def __init__(
        self,
        title: str,
        body: Text,
        *,
        confirm_label: str = "Yes",
        warning: Text | None = None,
        danger: bool = True,
    ) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._warning = warning
        self._confirm_label = confirm_label
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog") as dialog:
            dialog.border_title = self._title
            yield Static(self._body, id="confirm-body")
            if self._warning is not None:
                yield Static(self._warning, id="confirm-warning")
            with Horizontal(id="confirm-buttons"):
                yield Button(
                    f"{self._confirm_label} (y)",
                    variant="error" if self._danger else "primary",
                    id="confirm-yes",
                    compact=True,
                )
                yield Button("Cancel (n)", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        # Focus "Cancel": an Enter pressed by habit must not lock or delete anything.
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def device_action_dialog(kind: str, device: Device, now: datetime, *, this_device: bool) -> ConfirmScreen:
    """"Lock <hostname>?" naming the device by hostname, IP and short id, with what follows.

    For the device this app is signed in with, locking or deleting it also ends this
    session: the dialog says so.
    """
    verb = _VERBS[kind]
    body = Text()
    body.append(f"{verb} ")
    body.append(device.hostname or "(no hostname)", style="bold")
    body.append("?\n")
    body.append("IP ", style="dim")
    body.append(device.ip_address or "–")
    body.append("   id ", style="dim")
    body.append(device.short_id)
    body.append("   status ", style="dim")
    body.append(device.display_status(now))
    body.append("\n\n")
    body.append(_CONSEQUENCES[kind])
    warning = None
    if this_device and kind in ("lock", "delete"):
        warning = Text(
            "This is the device this app is signed in with: "
            f"{'locking' if kind == 'lock' else 'deleting'} it ends this session, "
            "and you will have to sign in again.",
            style="bold",
        )
    return ConfirmScreen(f"{verb} device?", body, confirm_label=verb, warning=warning, danger=kind != "unlock")
