"""The User-Agent header the server reads device details from.

The server splits the header on spaces and reads ``Host/``, ``ZenML/``, ``Python/``
and ``OS/`` tokens (zenml-api.md §1), so values may not contain spaces. They also go
into an HTTP header, so they are made plain printable ASCII.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import unicodedata

from zenml_devices_tui.core.text import clean

_WHITESPACE = re.compile(r"\s+")
_NOT_SAFE = re.compile(r"[^\x21-\x7e]+")  # anything but printable, non-space ASCII
MAX_VALUE_CHARS = 100


def header_value(value: object) -> str:
    """One token value: control characters dropped, accents folded, other runs → ``-``; empty → ``unknown``."""
    text = clean(_WHITESPACE.sub(" ", "" if value is None else str(value))).strip()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NOT_SAFE.sub("-", text).strip("-")[:MAX_VALUE_CHARS]
    return text or "unknown"


def installed_zenml_version() -> str | None:
    """The installed zenml's version from package metadata; zenml itself is not imported."""
    try:
        return importlib.metadata.version("zenml")
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception:  # broken metadata must not stop the app
        return None


def build_user_agent(zenml_version: str | None = None, *, hostname: str | None = None) -> str:
    """``Host/<hostname> ZenML/<version> Python/<x.y.z> OS/<system>``, every value safe for the header."""
    if zenml_version is None:
        zenml_version = installed_zenml_version()
    if hostname is None:
        hostname = platform.node()
    return " ".join(
        (
            f"Host/{header_value(hostname)}",
            f"ZenML/{header_value(zenml_version)}",
            f"Python/{header_value(platform.python_version())}",
            f"OS/{header_value(platform.system())}",
        )
    )
