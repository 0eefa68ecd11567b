"""Making strings from a server safe to draw.

Server strings are data. ``clean`` removes every control character (C0, DEL, C1,
which covers ESC and so CSI, OSC 8 and OSC 52 sequences) and the bidi overrides
that can make text read differently from how it is stored. Markup is never
interpreted here: the UI builds ``rich.text.Text`` from the result.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls, DEL, C1 controls, bidi embedding/override/isolate controls, and
# zero-width / line / paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]")


def clean(value: Any) -> str:
    """Return ``value`` as a string with every control character removed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if value.isascii() and value.isprintable():
        return value  # the usual case: no control character can be in it
    return _UNSAFE.sub("", value)


def clean_line(value: Any, *, limit: int = 200) -> str:
    """Like :func:`clean`, with runs of white space folded and the length capped."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    text = " ".join(_UNSAFE.sub(" ", value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
