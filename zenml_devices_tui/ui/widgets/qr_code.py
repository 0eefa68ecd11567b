"""A QR code drawn with half-block characters, so one text row holds two rows of modules.

The matrix comes from ``segno`` (error correction M, never a Micro QR) with a 4-module
quiet zone around it; where that does not fit, :data:`FALLBACKS` trade error correction
(L) and then quiet zone (2 modules, which phone scanners still read) for size, so that a
typical sign-in link fits an 80x24 terminal. Each module can be scaled up (``scale`` columns wide and ``scale``
half-rows tall) when the terminal has room. Dark modules are drawn in black on a white
background whatever the theme: a scanner needs dark-on-light, which a dark theme would
otherwise invert.

``render_lines`` and ``parse_lines`` are exact inverses, which is how the tests check
that what is drawn is the code for the link.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

QUIET_ZONE = 4
ERROR_LEVEL = "m"

DARK = "#000000"
LIGHT = "#ffffff"
QR_STYLE = Style(color=DARK, bgcolor=LIGHT)

# (top dark, bottom dark) → character (drawn in the dark colour on the light background)
_CELLS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
_PAIRS = {char: pair for pair, char in _CELLS.items()}

Matrix = list[list[bool]]

#: (error correction, quiet zone) from the best code to the smallest, tried in this order.
FALLBACKS = ((ERROR_LEVEL, QUIET_ZONE), ("l", QUIET_ZONE), ("l", 2))


def qr_matrix(data: str, *, quiet_zone: int = QUIET_ZONE, error: str = ERROR_LEVEL) -> Matrix:
    """The module matrix of ``data`` (True = dark), with the quiet zone included."""
    import segno

    code = segno.make(data, error=error, micro=False, boost_error=False)
    inner = [[bool(module) for module in row] for row in code.matrix]
    width = len(inner[0]) + 2 * quiet_zone
    blank = [False] * width
    rows = [list(blank) for _ in range(quiet_zone)]
    rows += [[False] * quiet_zone + row + [False] * quiet_zone for row in inner]
    rows += [list(blank) for _ in range(quiet_zone)]
    return rows


def scale_matrix(matrix: Matrix, scale: int) -> Matrix:
    """Each module becomes ``scale`` × ``scale`` modules."""
    if scale == 1:
        return matrix
    out: Matrix = []
    for row in matrix:
        wide = [module for module in row for _ in range(scale)]
        out.extend(list(wide) for _ in range(scale))
    return out


def render_lines(matrix: Matrix) -> list[str]:
    """Two matrix rows per text line, one column per module. An odd last row pairs with light."""
    lines = []
    for y in range(0, len(matrix), 2):
        top = matrix[y]
        bottom = matrix[y + 1] if y + 1 < len(matrix) else [False] * len(top)
        lines.append("".join(_CELLS[(t, b)] for t, b in zip(top, bottom, strict=True)))
    return lines


def parse_lines(lines: list[str], rows: int | None = None) -> Matrix:
    """The inverse of :func:`render_lines`. ``rows`` drops the padding row of an odd-height matrix."""
    matrix: Matrix = []
    for line in lines:
        pairs = [_PAIRS[char] for char in line]
        matrix.append([top for top, _ in pairs])
        matrix.append([bottom for _, bottom in pairs])
    return matrix[:rows] if rows is not None else matrix


def fitting_scale(modules: int, width: int, height: int, *, max_scale: int = 2) -> int:
    """The largest scale (≤ ``max_scale``) at which ``modules`` fits in width × height cells; 0 if none."""
    for scale in range(max_scale, 0, -1):
        side = modules * scale
        if side <= width and (side + 1) // 2 <= height:
            return scale
    return 0


@dataclass(frozen=True)
class QRRenderable:
    """A Rich renderable of a (scaled) module matrix in half blocks, dark on light."""

    matrix: Matrix

    def lines(self) -> list[str]:
        return render_lines(self.matrix)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines():
            yield Segment(line, QR_STYLE)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions):  # type: ignore[no-untyped-def]
        from rich.measure import Measurement

        width = len(self.matrix[0]) if self.matrix else 0
        return Measurement(width, width)
