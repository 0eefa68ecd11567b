"""Rich styles taken from the current Textual theme, for cells and text built as ``rich.text.Text``.

Theme colours may be ``#rrggbb`` or ``ansi_green``-style names (the ANSI themes); both go
through Textual's ``Color`` so the ANSI themes keep using the terminal's own palette.
"""

from __future__ import annotations

from rich.style import Style
from textual.color import Color
from textual.theme import Theme


def colour(value: str | None, fallback: str) -> Style:
    try:
        return Style(color=Color.parse(value or fallback).rich_color)
    except Exception:  # a colour Rich cannot take: plain text, the words still say it
        return Style()


def status_styles(theme: Theme) -> dict[str, Style]:
    """Device status → style. The status is always written out as well."""
    success = colour(theme.success, "green")
    error = colour(theme.error, "red")
    warning = colour(theme.warning, "yellow")
    return {
        "active": success,
        "locked": error + Style(bold=True),
        "pending": warning,
        "verified": warning,
        "expired": Style(dim=True, italic=True),
        # connection states in the header
        "live": success,
        "retrying": warning,
        "stale": error + Style(bold=True),
        "accent": colour(theme.accent or theme.primary, "blue") + Style(bold=True),
    }
