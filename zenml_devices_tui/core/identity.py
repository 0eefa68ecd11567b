"""This app's OAuth ``client_id``: one UUID4 per config directory, made once and kept.

Never zenml's own ``user_id``: re-authorizing a ``client_id`` resets that device on the
server and would break the zenml CLI's token (zenml-api.md §1, §7.3).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path

from zenml_devices_tui.core.errors import BadConfiguration
from zenml_devices_tui.core.paths import ensure_private_dir, set_aside

CLIENT_ID_FILE = "client_id"


def get_or_create_client_id(config_dir: Path) -> str:
    """The client id kept in ``<config_dir>/client_id``; a missing or corrupt one is replaced by a new UUID4.

    A corrupt file is renamed to ``client_id.corrupt-<timestamp>``, never deleted.
    Two instances starting at once agree on one id (the file is created without overwriting).
    Raises :class:`BadConfiguration` (one line, with the path) when it cannot be read or written.
    """
    path = Path(config_dir) / CLIENT_ID_FILE
    try:
        return _get_or_create(path)
    except OSError as exc:
        raise BadConfiguration(
            f"Cannot keep this app's client id in {path} ({exc.strerror or exc}). "
            "Set ZENML_DEVICES_HOME to a writable directory."
        ) from None


def _get_or_create(path: Path) -> str:
    ensure_private_dir(path.parent)
    for _ in range(3):
        existing = _read(path)
        if existing is not None:
            return existing
        if path.exists():
            set_aside(path)
        _create(path, str(uuid.uuid4()))
    existing = _read(path)
    if existing is None:  # pragma: no cover - something keeps corrupting the file
        raise OSError(f"{path} keeps being replaced with something that is not a UUID.")
    return existing


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="strict").strip()
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, IsADirectoryError):
        return None
    try:
        return str(uuid.UUID(text)) if len(text) in (32, 36) else None
    except ValueError:
        return None


def _create(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` unless another process created it first."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if the file exists: the first writer wins
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
