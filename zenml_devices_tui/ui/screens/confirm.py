"""A yes/no question: ``y`` confirms, ``n`` or Escape cancels. Dismisses with a bool."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


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
