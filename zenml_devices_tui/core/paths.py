"""Where the app keeps its files, and the careful ways it writes them.

``config_dir()``: ``$ZENML_DEVICES_HOME`` if set, else ``$XDG_CONFIG_HOME/zenml-devices``,
else ``~/.config/zenml-devices``. Everything in it is private: the directory is 0700 and
files are written atomically (temp file in the same directory, fsync, ``os.replace``)
with mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping

try:  # POSIX only; elsewhere locking is a no-op
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

APP_DIR_NAME = "zenml-devices"
HOME_ENV = "ZENML_DEVICES_HOME"


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The app's config directory (not created here)."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser()
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative path
        return Path(xdg) / APP_DIR_NAME
    return Path.home() / ".config" / APP_DIR_NAME


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; tighten it if it is looser and ours."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        st = path.stat()
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700)
    return path


def atomic_write(path: Path, data: str | bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` all at once: readers see the old file or the new one, never half.

    The directory must exist. Raises ``OSError``; on failure the old file is untouched
    and no temp file is left behind.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created 0600) for the block.

    Serialises read-modify-write cycles between processes (two app instances).
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def set_aside(path: Path, label: str = "corrupt") -> Path:
    """Rename ``path`` to ``<name>.<label>-<UTC timestamp>`` (never overwriting) and return the new path."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{label}-{stamp}-{n}")
    os.replace(path, target)
    return target
