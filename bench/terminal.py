"""Run a command in a pseudo-terminal and watch what it writes.

:class:`PtyRun` starts a process on the slave side of a fresh pty with a fixed size and
collects every byte it writes, with the time it arrived. ``wait_for_text`` searches the
output with the ANSI escapes stripped, so a hostname is found however the app styled it.
Peak RSS comes from ``wait4`` on the child (``ru_maxrss`` of that process alone).
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field
from typing import Sequence

COLUMNS, LINES = 120, 40

# CSI (with private and intermediate bytes), OSC (ended by BEL or ST), DCS/APC/PM/SOS, and two-byte escapes.
_ANSI = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[PX^_][^\x1b]*\x1b\\"
    rb"|\x1b[@-Z\\-_]"
)


def strip_ansi(data: bytes) -> str:
    return _ANSI.sub(b"", data).decode("utf-8", "replace")


@dataclass
class PtyRun:
    """One process in a pty of ``columns`` x ``lines``."""

    argv: Sequence[str]
    env: dict[str, str]
    columns: int = COLUMNS
    lines: int = LINES
    cwd: str | None = None
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    started: float = 0.0
    exited: float | None = None
    returncode: int | None = None
    max_rss_kb: int | None = None

    def start(self) -> "PtyRun":
        self._master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.lines, self.columns, 0, 0))
        env = dict(self.env, TERM="xterm-256color", COLUMNS=str(self.columns), LINES=str(self.lines))
        self.started = time.perf_counter()
        self._proc = subprocess.Popen(
            list(self.argv), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=self.cwd,
            start_new_session=True, close_fds=True,
        )
        os.close(slave)
        return self

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def output(self) -> bytes:
        return b"".join(data for _, data in self.chunks)

    def bytes_between(self, start: float, end: float) -> int:
        return sum(len(data) for t, data in self.chunks if start <= t < end)

    def text(self) -> str:
        return strip_ansi(self.output)

    # ------------------------------------------------------------------ reading

    def pump(self, timeout: float) -> bool:
        """Read what is there within ``timeout`` seconds; False once the child closed the terminal."""
        ready, _, _ = select.select([self._master], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = os.read(self._master, 1 << 16)
        except OSError:  # EIO: every slave fd is closed
            data = b""
        if not data:
            return False
        self.chunks.append((time.perf_counter(), data))
        return True

    def read_for(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            if not self.pump(left):
                time.sleep(min(left, 0.01))

    def wait_for_text(self, pattern: str | re.Pattern[str], timeout: float) -> float:
        """Seconds from start until ``pattern`` shows in the ANSI-stripped output.

        Raises ``TimeoutError`` (with the screen text) if it does not within ``timeout``.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = self.started + timeout
        seen = 0
        while True:
            if len(self.chunks) != seen:
                seen = len(self.chunks)
                if regex.search(self.text()):
                    return self.chunks[-1][0] - self.started
            left = deadline - time.perf_counter()
            if left <= 0 or (not self.pump(min(left, 0.5)) and self._proc.poll() is not None):
                tail = self.text()[-1500:]
                raise TimeoutError(f"{regex.pattern!r} did not appear within {timeout:.0f} s; output ends:\n{tail}")

    def wait_quiet(self, quiet: float, timeout: float) -> None:
        """Read until nothing was written for ``quiet`` seconds (or ``timeout`` passed)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            last = self.chunks[-1][0] if self.chunks else self.started
            if time.perf_counter() - last >= quiet:
                return
            self.pump(min(quiet, deadline - time.perf_counter()))

    # ------------------------------------------------------------------ ending

    def send(self, data: bytes) -> None:
        os.write(self._master, data)

    def wait_exit(self, timeout: float) -> int:
        """Read until the child exits; reap it with ``wait4`` to get its own peak RSS."""
        deadline = time.perf_counter() + timeout
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.exited = time.perf_counter()
                self.max_rss_kb = usage.ru_maxrss
                self.returncode = os.waitstatus_to_exitcode(status)
                self._proc.returncode = self.returncode
                while self.pump(0.0):  # drain what is left
                    pass
                return self.returncode
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{self.argv[0]} did not exit within {timeout:.0f} s")
            if not self.pump(0.02):
                time.sleep(0.005)

    def close(self, quit_keys: bytes = b"q", grace: float = 5.0) -> None:
        """Ask the app to quit with ``quit_keys``, then SIGTERM and SIGKILL (its own process group only)."""
        try:
            if self._proc.returncode is None and quit_keys:
                self.send(quit_keys)
                try:
                    self.wait_exit(grace)
                except TimeoutError:
                    pass
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if self._proc.returncode is not None:
                    break
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    self.wait_exit(grace)
                except TimeoutError:
                    pass
        finally:
            try:
                os.close(self._master)
            except OSError:
                pass

    def __enter__(self) -> "PtyRun":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
