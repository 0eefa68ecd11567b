"""The verification link as a QR code, to open it on a phone. Escape closes it."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import ModalScreen
from textual.widgets import Static

from zenml_devices_tui.ui.widgets.qr_code import (
    FALLBACKS,
    Matrix,
    QRRenderable,
    fitting_scale,
    qr_matrix,
    scale_matrix,
)

CAPTION = "Scan to open the sign-in link on your phone  ·  escape closes  ·  c copies the link"
SHORT_CAPTION = "escape closes · c copies"


class QRScreen(ModalScreen[None]):
    """Shows ``url`` as a QR code sized to the terminal, or says why it cannot."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="qr.close"),
        Binding("v", "close", "Close", show=False, id="qr.toggle"),
        Binding("c", "copy_link", "Copy link", id="qr.copy"),
    ]

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._matrices: dict[tuple[str, int], Matrix] = {}
        #: The matrix drawn last (the best one that fits); for tests.
        self.matrix = self._candidate(*FALLBACKS[0])
        #: The scale drawn last (0: the terminal was too small); for tests.
        self.scale = 0

    def compose(self) -> ComposeResult:
        with Middle(id="qr-middle"):
            with Center():
                yield Static(id="qr-code")
            with Center():
                yield Static(id="qr-caption")

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        self._draw()

    def _candidate(self, error: str, quiet_zone: int) -> Matrix:
        key = (error, quiet_zone)
        if key not in self._matrices:
            self._matrices[key] = qr_matrix(self.url, quiet_zone=quiet_zone, error=error)
        return self._matrices[key]

    def _fit(self, width: int, height: int) -> tuple[Matrix, int, bool]:
        """The best code that fits: with a caption line if possible; scale 0 when none fits."""
        for caption_rows, max_scale in ((1, 2), (0, 1)):
            for error, quiet_zone in FALLBACKS:
                matrix = self._candidate(error, quiet_zone)
                scale = fitting_scale(len(matrix), width, height - caption_rows, max_scale=max_scale)
                if scale:
                    return matrix, scale, caption_rows > 0
        return self._candidate(*FALLBACKS[-1]), 0, False

    def _draw(self) -> None:
        width, height = self.size.width, self.size.height
        if not width or not height:
            width, height = self.app.size.width, self.app.size.height
        code = self.query_one("#qr-code", Static)
        caption = self.query_one("#qr-caption", Static)
        # Prefer room for a one-line caption; drop it before giving up on the code.
        self.matrix, scale, show_caption = self._fit(width, height)
        modules = len(self.matrix)
        self.scale = scale
        if scale:
            code.remove_class("-too-small")
            code.update(QRRenderable(scale_matrix(self.matrix, scale)))
            side = modules * scale
            code.styles.width = side
            code.styles.height = (side + 1) // 2
            caption.display = show_caption
            caption.update(Text(CAPTION if len(CAPTION) <= width else SHORT_CAPTION, style="dim"))
        else:
            need_w, need_h = modules, (modules + 1) // 2
            code.add_class("-too-small")
            code.styles.width = min(60, max(20, width - 4))
            code.styles.height = "auto"
            code.update(
                Text(
                    f"This terminal is too small for the QR code: it needs {need_w} × {need_h} "
                    f"cells and has {width} × {height}.\n\n"
                    "Make the window larger (or the font smaller), or press c to copy the link "
                    "and escape to go back.",
                )
            )
            caption.display = False

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy_link(self) -> None:
        self.app.copy_to_clipboard(self.url)
        self.notify("Copied the sign-in link to the clipboard.", title="Copied")
