"""The base of every full screen: forwards failed workers to the app's one error handler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen
from textual.worker import Worker

if TYPE_CHECKING:
    from zenml_devices_tui.ui.app import DevicesApp


class AppScreen(Screen):
    """A screen of this app. ``Worker.StateChanged`` does not bubble, so failures are forwarded."""

    @property
    def zapp(self) -> "DevicesApp":
        return self.app  # type: ignore[return-value]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.zapp.handle_worker_failure(event)
