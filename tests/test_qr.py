"""The QR code drawn for the verification link decodes back to that link.

Two independent checks: the half-block text parses back to exactly segno's module
matrix (with its 4-module quiet zone), and zxing-cpp (a real decoder, from a wheel)
reads the parsed matrix, rasterised, as the link.
"""

from __future__ import annotations

import segno

from zenml_devices_tui.ui.widgets.qr_code import (
    QUIET_ZONE,
    fitting_scale,
    parse_lines,
    qr_matrix,
    render_lines,
    scale_matrix,
)

LINK = (
    "http://127.0.0.1:8237/devices/verify?device_id=32112074-6bcb-42c0-9e83-162f9a6b470d"
    "&user_code=edc6b60912983b363ad5f0b35deb7ada"
)
SHORT = "https://zenml.example.com/devices/verify?device_id=1&user_code=ab"


def segno_matrix(data: str) -> list[list[bool]]:
    code = segno.make(data, error="m", micro=False)
    return [[bool(m) for m in row] for row in code.matrix]


def downscale(matrix: list[list[bool]], scale: int) -> list[list[bool]]:
    return [row[::scale] for row in matrix[::scale]]


def decode(matrix: list[list[bool]], pixels: int = 4) -> str | None:
    """Rasterise a module matrix (white background) and read it with zxing-cpp."""
    import zxingcpp

    size = len(matrix) * pixels
    image = bytearray(b"\xff" * size * size)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(pixels):
                    start = (y * pixels + dy) * size + x * pixels
                    image[start : start + pixels] = b"\x00" * pixels
    result = zxingcpp.read_barcode(memoryview(bytes(image)).cast("B", (size, size)))
    return None if result is None else result.text


def test_segno_encodes_the_link_as_a_regular_qr_code_with_error_correction_m() -> None:
    code = segno.make(LINK, error="m", micro=False)
    assert not code.is_micro
    assert code.error == "M"
    assert code.designator.endswith("-M")
    # The link survives segno's own encoding: a real decoder reads segno's symbol (quiet zone added).
    framed = segno_matrix(LINK)
    blank = [False] * (len(framed) + 2 * QUIET_ZONE)
    framed = [list(blank)] * QUIET_ZONE + [[False] * QUIET_ZONE + r + [False] * QUIET_ZONE for r in framed] + [
        list(blank)
    ] * QUIET_ZONE
    assert decode(framed) == LINK


def test_the_matrix_has_the_quiet_zone_around_segnos_symbol() -> None:
    inner = segno_matrix(LINK)
    matrix = qr_matrix(LINK)
    n = len(inner)
    assert len(matrix) == n + 2 * QUIET_ZONE
    assert all(len(row) == n + 2 * QUIET_ZONE for row in matrix)
    for y in range(len(matrix)):
        for x in range(len(matrix)):
            inside = QUIET_ZONE <= y < QUIET_ZONE + n and QUIET_ZONE <= x < QUIET_ZONE + n
            expected = inner[y - QUIET_ZONE][x - QUIET_ZONE] if inside else False
            assert matrix[y][x] == expected


def test_half_blocks_use_only_the_four_cells_and_two_module_rows_per_line() -> None:
    matrix = qr_matrix(LINK)
    lines = render_lines(matrix)
    assert len(lines) == (len(matrix) + 1) // 2
    assert {ch for line in lines for ch in line} <= {" ", "▀", "▄", "█"}
    assert all(len(line) == len(matrix) for line in lines)


def test_text_rendering_round_trips_to_exactly_segnos_matrix() -> None:
    for link in (LINK, SHORT):
        matrix = qr_matrix(link)
        parsed = parse_lines(render_lines(matrix), rows=len(matrix))
        assert parsed == matrix
        n = len(segno_matrix(link))
        inner = [row[QUIET_ZONE : QUIET_ZONE + n] for row in parsed[QUIET_ZONE : QUIET_ZONE + n]]
        assert inner == segno_matrix(link)


def test_scaled_rendering_round_trips() -> None:
    matrix = qr_matrix(SHORT)
    scaled = scale_matrix(matrix, 2)
    parsed = parse_lines(render_lines(scaled), rows=len(scaled))
    assert downscale(parsed, 2) == matrix


def test_the_drawn_code_decodes_to_the_link() -> None:
    for link in (LINK, SHORT):
        matrix = qr_matrix(link)
        parsed = parse_lines(render_lines(matrix), rows=len(matrix))
        assert decode(parsed) == link


def test_fitting_scale() -> None:
    assert fitting_scale(57, 200, 80) == 2
    assert fitting_scale(57, 100, 29) == 1
    assert fitting_scale(57, 80, 24) == 0
    assert fitting_scale(57, 56, 40) == 0


async def test_the_qr_view_draws_a_code_that_decodes_to_the_shown_link(tmp_path) -> None:
    """What Textual actually draws in the QR view (its strips, cell by cell) reads back as the link."""
    from textual.geometry import Region

    from tests.uihelpers import make_harness
    from zenml_devices_tui.ui.app import DevicesApp
    from zenml_devices_tui.ui.screens.login import LoginScreen
    from zenml_devices_tui.ui.screens.qr import QRScreen

    harness = make_harness(tmp_path, auto_approve_after=None)
    app = DevicesApp(harness.context)
    for size, scale in (((80, 24), 1), ((100, 32), 1), ((160, 64), 2)):
        async with app.run_test(size=size) as pilot:
            for _ in range(200):
                if isinstance(app.screen, LoginScreen) and app.screen.phase == "waiting":
                    break
                await pilot.pause()
            link = app.screen.link.url
            await pilot.press("v")
            await pilot.pause()
            qr = app.screen
            assert isinstance(qr, QRScreen) and qr.scale == scale
            widget = qr.query_one("#qr-code")
            strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
            lines = [strip.text for strip in strips]
            drawn = downscale(parse_lines(lines, rows=len(qr.matrix) * scale), scale)
            assert drawn == qr.matrix
            assert decode(drawn) == link
            border = drawn[:2] + drawn[-2:] + [row[:2] + row[-2:] for row in drawn]
            assert not any(any(row) for row in border)  # a light quiet zone of at least 2 modules
            # dark modules on a light background, whatever the theme
            styles = {seg.style for strip in strips for seg in strip if seg.text.strip()}
            assert all(s.color.triplet.hex == "#000000" and s.bgcolor.triplet.hex == "#ffffff" for s in styles)
        app = DevicesApp(harness.context)
