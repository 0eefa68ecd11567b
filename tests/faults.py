"""Helpers for the hardening tests: hostile payloads, fault-injecting transports, waiting, ptys.

Nothing here imports Textual, so subprocess helpers can use it too.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable

# --------------------------------------------------------------------------- hostile strings

#: Every character that must never reach the terminal from server data, by our own definition
#: (not the product's regex): C0 controls, DEL, C1 controls, bidi overrides and isolates,
#: zero-width characters and line/paragraph separators.
UNSAFE_CHARS = (
    "".join(chr(c) for c in range(0x00, 0x20))
    + "\x7f"
    + "".join(chr(c) for c in range(0x80, 0xA0))
    + "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2028\u2029\u2066\u2067\u2068\u2069\ufeff"
)
_UNSAFE_RE = re.compile("[" + re.escape(UNSAFE_CHARS) + "]")


def has_unsafe(text: str) -> bool:
    return bool(_UNSAFE_RE.search(text))


#: A marker that shows up only if a payload got through.
MARKER = "PWNED-7f3a"
#: OSC 52: "set the clipboard to <base64>". A terminal would put MARKER on the clipboard.
OSC52 = "\x1b]52;c;" + base64.b64encode(MARKER.encode()).decode() + "\x07"
OSC52_PREFIX = b"\x1b]52;c;" + base64.b64encode(MARKER.encode())
#: OSC 8: a hyperlink whose text lies about where it goes.
OSC8 = "\x1b]8;;https://evil.example/" + MARKER + "\x1b\\click-me\x1b]8;;\x1b\\"
#: CSI: clear the screen, move the cursor, red text.
CSI_CLEAR = "\x1b[2J\x1b[H"
CSI_RED = "\x1b[31m" + MARKER + "\x1b[0m"
#: 8-bit C1 CSI and OSC introducers.
C1_CSI = "\x9b31m" + MARKER
C1_OSC = "\x9d52;c;" + base64.b64encode(MARKER.encode()).decode() + "\x9c"
#: Markup that Rich or Textual would interpret if the string were used as markup.
RICH_MARKUP = "[bold red]" + MARKER + "[/bold red]"
RICH_LINK = "[link=https://evil.example]" + MARKER + "[/link]"
BAD_MARKUP = "[/]" + MARKER + "[/nope]"
TEXTUAL_ACTION = "[@click=app.quit]" + MARKER + "[/]"
BIDI = "\u202e" + MARKER + "\u202c"

HOSTILE_STRINGS = [
    OSC52, OSC8, CSI_CLEAR, CSI_RED, C1_CSI, C1_OSC, RICH_MARKUP, RICH_LINK, BAD_MARKUP, TEXTUAL_ACTION, BIDI,
    "line1\nline2\rline3", "\x00nul", "\x07bell", "\x08\x08\x08backspace", "tab\there",
]

#: Byte sequences that must never appear in what the app writes to the terminal.
FORBIDDEN_OUTPUT = [
    OSC52_PREFIX,
    b"\x1b]8;;https://evil.example/",
    b"\x1b[31m" + MARKER.encode(),
    b"\xc2\x9b31m",  # C1 CSI, as UTF-8
    b"\xc2\x9d52;c;",  # C1 OSC, as UTF-8
    "\u202e".encode() + MARKER.encode(),
]

# --------------------------------------------------------------------------- waiting


async def wait_until(
    condition: Callable[[], bool],
    what: str = "condition",
    *,
    timeout: float = 10.0,
    step: float = 0.02,
    pilot: Any = None,
) -> None:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass (then fail naming ``what``).

    For conditions that depend on a real server or process; with a Pilot it pauses the app
    between checks so messages get processed.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        if pilot is not None:
            await pilot.pause(step)
        else:
            await asyncio.sleep(step)


# --------------------------------------------------------------------------- transports


Handler = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


class FaultTransport(httpx.AsyncBaseTransport):
    """Wraps another transport; ``script`` functions may answer a request instead of it.

    ``add(fn, count=1)``: the next ``count`` requests for which ``fn(request)`` returns a
    response (or raises) are answered by it. ``requests`` logs every request seen.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self._rules: list[list[Any]] = []

    def add(self, fn: Callable[[httpx.Request], Any], count: int = 1) -> None:
        self._rules.append([fn, count])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for rule in list(self._rules):
            fn = rule[0]
            try:
                result = fn(request)
                if asyncio.iscoroutine(result):
                    result = await result
            except BaseException:
                self._used(rule)  # raising counts as answering
                raise
            if result is None:
                continue
            self._used(rule)
            return result
        return await self._forward(request)

    def _used(self, rule: list[Any]) -> None:
        rule[1] -= 1
        if rule[1] <= 0 and rule in self._rules:
            self._rules.remove(rule)

    async def _forward(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self.inner, httpx.AsyncBaseTransport):
            return await self.inner.handle_async_request(request)
        return self.inner.handle_request(request)  # type: ignore[union-attr]


def big_json_body(megabytes: int = 10) -> bytes:
    """A syntactically valid JSON page whose one string is ``megabytes`` MB long."""
    pad = "x" * (megabytes * 1024 * 1024)
    return ('{"index":1,"max_size":20,"total_pages":1,"total":1,"items":[{"junk":"' + pad + '"}]}').encode()


# --------------------------------------------------------------------------- ptys


class PtyProcess:
    """A child process on a pseudo-terminal of a given size; collects everything it writes."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cols: int = 100, rows: int = 30,
                 cwd: str | None = None) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.output = bytearray()
        self.cols, self.rows = cols, rows
        self._closed = False

    def read_available(self, timeout: float = 0.05) -> bytes:
        if self._closed:
            return b""
        got = bytearray()
        while True:
            ready, _, _ = select.select([self.master], [], [], timeout)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the child side is gone
                break
            if not chunk:
                break
            got += chunk
            timeout = 0.0
        self.output += got
        return bytes(got)

    def read_until(self, predicate: Callable[[bytes], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_available(0.1)
            if predicate(bytes(self.output)):
                return True
            if self.proc.poll() is not None:
                self.read_available(0.1)
                return predicate(bytes(self.output))
        return False

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close_master(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.master)

    def wait_gone(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def cpu_seconds(self) -> float:
        """User + system CPU time of the child so far (from /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            parts = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(parts[11]) + int(parts[12])) / ticks

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait(timeout=10)
        self.close_master()


def screen_lines(output: bytes, cols: int, rows: int) -> list[str]:
    """What a VT100-ish terminal shows after ``output`` (pyte)."""
    import pyte

    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    stream.feed(output)
    return list(screen.display)


def app_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for running the app in a subprocess: isolated config, a plain terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "TEXTUAL", "PYTEST"))}
    env.update(
        ZENML_DEVICES_HOME=str(home),
        TERM="xterm-256color",
        COLORTERM="truecolor",
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(extra)
    return env


def contains_any(haystack: bytes | str, needles: Iterable[bytes | str]) -> list[Any]:
    return [n for n in needles if n in haystack]  # type: ignore[operator]


# --------------------------------------------------------------------------- a keyring for subprocesses

#: ``PYTHON_KEYRING_BACKEND=tests.faults.FileKeyring`` (with the repo on PYTHONPATH) makes
#: ``keyring.get_keyring()`` in a subprocess use this: a "system keyring" kept in the JSON
#: file named by this variable, so a test can look inside it afterwards.
FAKE_KEYRING_ENV = "ZENML_DEVICES_TEST_KEYRING_FILE"


def _keyring_base() -> type:
    import keyring.backend

    return keyring.backend.KeyringBackend


from keyring.compat.properties import classproperty as _classproperty  # noqa: E402


class FileKeyring(_keyring_base()):  # type: ignore[misc]
    """A keyring backend that keeps ``{"service\\0user": password}`` in a JSON file.

    Importing this module registers the class with keyring; it is viable only where the
    variable is set, so it never becomes the default keyring of the test process itself.
    """

    @_classproperty
    def priority(cls) -> float:  # noqa: N805
        if FAKE_KEYRING_ENV not in os.environ:
            raise RuntimeError(f"{FAKE_KEYRING_ENV} is not set")
        return 10.0

    @staticmethod
    def _path() -> Path:
        return Path(os.environ[FAKE_KEYRING_ENV])

    def _load(self) -> dict[str, str]:
        import json

        try:
            return json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, str]) -> None:
        import json

        self._path().write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        import keyring.errors

        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise keyring.errors.PasswordDeleteError(username)
        self._save(data)


# --------------------------------------------------------------------------- clocks


def recording_clock():  # type: ignore[no-untyped-def]
    """A FakeClock whose ``slept`` lists every duration something asked to sleep (to check back-off)."""
    from zenml_devices_tui.core.clock import FakeClock

    class RecordingClock(FakeClock):
        def __init__(self) -> None:
            super().__init__()
            self.slept: list[float] = []

        async def sleep(self, seconds: float) -> None:
            self.slept.append(seconds)
            await super().sleep(seconds)

    return RecordingClock()


# --------------------------------------------------------------------------- reading widgets


def widget_text(widget: Any) -> str:
    """The plain text a widget shows: its own content (a Static) and that of every Static inside it."""
    from rich.text import Text
    from textual.widgets import Static

    parts = []
    for w in [widget, *widget.query(Static)]:
        if not isinstance(w, Static):
            continue
        content = w.content
        parts.append(content.plain if isinstance(content, Text) else str(getattr(content, "plain", content)))
    return "\n".join(parts)
