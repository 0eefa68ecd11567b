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
_ENTRY_POINT = REPO_ROOT / ".venv" / "bin" / "zenml-devices"
#: The installed ``zenml-devices`` command (or the module, where the venv has no script).
APP_CMD = [str(_ENTRY_POINT)] if _ENTRY_POINT.exists() else [PYTHON, "-m", "zenml_devices_tui"]

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


async def until_approved_and_loaded(pilot: Any, clock: Any) -> Any:
    """Move the fake clock until the demo approves the sign-in, then wait for the device table."""
    from zenml_devices_tui.ui.screens.devices import DevicesScreen

    app = pilot.app
    for _ in range(10):
        clock.advance(5)
        await pilot.pause()
        if isinstance(app.screen, DevicesScreen):
            break
    await wait_until(lambda: isinstance(app.screen, DevicesScreen) and app.screen.loaded, "the device table",
                     pilot=pilot)
    return app.screen


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
    tries = 0
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        tries += 1
        if pilot is not None:
            # First just let the app process what is queued; then give real I/O time too.
            await (pilot.pause() if tries <= 20 else pilot.pause(step))
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
    """A child process on a pseudo-terminal of a given size; a thread keeps reading what it writes.

    (A pty buffers only a few kilobytes: a child whose output nobody reads blocks.)
    ``controlling_tty``: make the pty the child's controlling terminal, so closing the
    master side hangs it up and the kernel sends SIGHUP, as when an SSH link drops.
    """

    def __init__(self, argv: list[str], *, env: dict[str, str], cols: int = 100, rows: int = 30,
                 cwd: str | None = None, controlling_tty: bool = False) -> None:
        import fcntl
        import pty
        import struct
        import termios
        import threading

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def make_controlling() -> None:  # runs in the child, before exec
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True,
            start_new_session=not controlling_tty, preexec_fn=make_controlling if controlling_tty else None,
        )
        os.close(slave)
        self.cols, self.rows = cols, rows
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if self._closed:
                return
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the child side is gone
                return
            if not chunk:
                return
            with self._lock:
                self._buffer += chunk

    @property
    def output(self) -> bytes:
        with self._lock:
            return bytes(self._buffer)

    def read_until(self, predicate: Callable[[bytes], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.output):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.1)
                return predicate(self.output)
            time.sleep(0.02)
        return False

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until the child has written nothing for ``quiet`` seconds (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        last = len(self.output)
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now_len = len(self.output)
            if now_len != last:
                last, since = now_len, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close_master(self) -> None:
        if not self._closed:
            self._closed = True
            self._reader.join(timeout=2)
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


def leaked(secret: str, text: str, window: int = 16) -> str | None:
    """A piece of ``secret`` (``window`` characters or more) that shows in ``text``; a truncated dump counts.

    A JWT's first part is only the public header ({"alg":"HS256","typ":"JWT"}) and is skipped.
    """
    parts = secret.split(".")
    pieces = parts[1:] if len(parts) == 3 else [secret]
    for piece in pieces:
        for i in range(0, max(1, len(piece) - window + 1)):
            chunk = piece[i:i + window]
            if len(chunk) == window and chunk in text:
                return chunk
    return None


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


# --------------------------------------------------------------------------- a hostile server, in a real terminal

#: Environment of :func:`run_hostile_app`: the mode ("devices" or "login") and where to write the secrets.
HOSTILE_MODE_ENV = "ZENML_DEVICES_TEST_HOSTILE_MODE"
HOSTILE_SECRETS_ENV = "ZENML_DEVICES_TEST_SECRETS_FILE"

#: What each hostile field of a device carries (field -> payload), for the pty test to look for.
HOSTILE_DEVICE_FIELDS = {
    "hostname": OSC52 + "host-a",
    "os": CSI_RED,
    "city": RICH_MARKUP,
    "country": BAD_MARKUP,
    "python_version": OSC8,
    "zenml_version": C1_CSI,
    "region": C1_OSC,
    "ip_address": CSI_CLEAR + "10.0.0.1",
}
HOSTILE_SECOND_HOSTNAME = TEXTUAL_ACTION
HOSTILE_THIRD_HOSTNAME = BIDI
HOSTILE_SERVER_NAME = RICH_LINK
HOSTILE_SERVER_VERSION = "0.98.0" + CSI_RED
HOSTILE_USER_NAME = "[i]ada[/i]"
HOSTILE_FULL_NAME = OSC52 + "[b]Ada[/b]"
HOSTILE_ERROR = OSC52 + "[red]server says[/red] " + CSI_CLEAR + "nope"
HOSTILE_LINK = (
    "http://demo.zenml.local/devices/verify?device_id={device_id}&user_code={user_code}"
    "&x=" + OSC52 + "&y=[b]" + MARKER + "[/b]" + CSI_RED
)


def run_hostile_app() -> None:  # pragma: no cover - runs in a subprocess on a pty
    """Run the real app against a DemoServer that sends control sequences and markup everywhere.

    ``devices`` mode: signed in, the table shows devices whose fields are hostile, the
    server's name, version and the user's names are hostile, and the second device-list
    request fails with a hostile error message. ``login`` mode: the sign-in screen with a
    hostile verification link. The access token / device code are written to the file in
    ``$ZENML_DEVICES_TEST_SECRETS_FILE`` (never to the terminal).
    """
    import json as _json
    import uuid as _uuid

    from zenml_devices_tui.core.client import ZenMLClient
    from zenml_devices_tui.core.config import AppConfig
    from zenml_devices_tui.core.context import AppContext
    from zenml_devices_tui.core.models import TokenResponse
    from zenml_devices_tui.core.token_store import StoredToken, open_token_store
    from zenml_devices_tui.demo.server import DemoServer
    from zenml_devices_tui.ui.app import DevicesApp

    mode = os.environ.get(HOSTILE_MODE_ENV, "devices")
    secrets_file = Path(os.environ[HOSTILE_SECRETS_ENV])
    demo = DemoServer(live=False, auto_approve_after=None)
    user_agent = "Host/test-laptop ZenML/0.98.0 Python/3.11.7 OS/Linux"
    client_id = "5b1f9d0e-7c2a-4f3e-9a6b-0c1d2e3f4a5b"
    list_requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal list_requests
        path = request.url.path
        if path == "/api/v1/devices" and request.method == "GET":
            list_requests += 1
            if list_requests >= 2:
                return httpx.Response(400, json={"detail": ["ValueError", HOSTILE_ERROR]})
        response = demo.handle(request)
        if path == "/api/v1/info":
            data = _json.loads(response.read())
            data.update(name=HOSTILE_SERVER_NAME, version=HOSTILE_SERVER_VERSION)
            return httpx.Response(200, json=data)
        if path == "/api/v1/device_authorization" and response.status_code == 200:
            data = _json.loads(response.read())
            secrets_file.write_text(data["device_code"])
            query = dict(httpx.QueryParams(data["verification_uri_complete"].split("?", 1)[1]))
            data["verification_uri_complete"] = HOSTILE_LINK.format(**query)
            return httpx.Response(200, json=data)
        return response

    transport = httpx.MockTransport(handler)
    config_dir = Path(os.environ.get("ZENML_DEVICES_HOME", "/nonexistent"))
    context = AppContext(
        config_dir=config_dir,
        config=AppConfig(),
        token_store=open_token_store(config_dir, backend="memory"),
        client_id=client_id,
        user_agent=user_agent,
        hostname="test-laptop",
        make_client=lambda url: ZenMLClient(url, transport=transport, user_agent=user_agent),
        server_url=demo.base_url,
        refresh_interval=1.0,
        remember_servers=False,
    )
    if mode == "devices":
        me = demo.approver
        me.name, me.full_name = HOSTILE_USER_NAME, HOSTILE_FULL_NAME
        device_id, token = demo.device_token(client_id=client_id, user_agent=user_agent)
        mine = sorted((d for d in demo.devices.values() if d.user_id == me.id and d.id != device_id),
                      key=lambda d: d.created, reverse=True)
        for name, value in HOSTILE_DEVICE_FIELDS.items():
            setattr(mine[0], name, value)
        mine[1].hostname = HOSTILE_SECOND_HOSTNAME
        mine[2].hostname = HOSTILE_THIRD_HOSTNAME
        stored = StoredToken.from_token_response(demo.base_url, TokenResponse.from_json({"access_token": token}))
        context.token_store.put(stored)
        secrets_file.write_text(token)
        (secrets_file.parent / "hostile-device-id").write_text(mine[0].id)
    DevicesApp(context).run()
    _ = _uuid
