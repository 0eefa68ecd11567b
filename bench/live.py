"""Measurements against a real ZenML 0.98.0 server: zenml-devices and the zenml CLI side by side.

The server, its virtualenv and the device seeding are the test fixture's own
(tests/realserver.py); nothing here starts uvicorn or installs zenml by itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from bench.report import Figure, failed
from bench.terminal import PtyRun
from tests.realserver import RealServer, clean_env, device_id_from_uri, ensure_server_venv, venv_dir

DEVICES = 50
HOST_PREFIX = "bench-host"
#: Any seeded hostname on screen means the device table was drawn.
HOSTNAME = re.compile(rf"{HOST_PREFIX}-\d{{3}}")
APP = Path(sys.executable).with_name("zenml-devices")
_URL = re.compile(r"https?://\S*device_id=[0-9a-f-]{36}&user_code=[0-9a-f]{32}")
_DEVICE_LIST = re.compile(r'"GET /api/v1/devices\?[^"]*\bpage=1\b')


def app_env(home: Path) -> dict[str, str]:
    """The environment of a user with a token in the file store of an isolated home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "TEXTUAL"))}
    env.update(ZENML_DEVICES_HOME=str(home), ZENML_DEVICES_TOKEN_STORE="file")
    env.pop("NO_COLOR", None)
    return env


@dataclass
class Setup:
    server: RealServer
    url: str
    app_env: dict[str, str]
    cli_env: dict[str, str]
    zenml: Path

    def list_requests(self) -> int:
        """Device-list refreshes the server has answered so far (one ``page=1`` request each)."""
        return len(_DEVICE_LIST.findall(self.server.log_path.read_text(errors="replace")))

    def requests(self) -> int:
        return self.server.log_path.read_text(errors="replace").count("uvicorn.access")


@contextlib.contextmanager
def start(workdir: Path, log=print) -> Iterator[Setup]:
    """Start the server, seed the devices, store a token for the app and sign the zenml CLI in."""
    t0 = time.monotonic()
    venv = ensure_server_venv(venv_dir())
    log(f"  server venv ready ({time.monotonic() - t0:.0f} s): {venv}")
    server = RealServer(venv, workdir / "server")
    server.start()
    try:
        log(f"  server up on {server.base_url} in {server.last_startup_seconds:.1f} s")
        logins = server.seed_devices(DEVICES, hostname_prefix=HOST_PREFIX)
        home = workdir / "home"
        store_token(home, server.base_url, logins[0].token, logins[0].id)
        cli_env = _zenml_login(server, workdir / "zenml-config")
        log(f"  {DEVICES} devices seeded; zenml CLI signed in")
        yield Setup(server, server.base_url, app_env(home), cli_env, venv / "bin" / "zenml")
    finally:
        server.stop()


def store_token(home: Path, url: str, token: str, device_id: str | None = None) -> None:
    """What a sign-in leaves behind: the token (and the device it belongs to) in the file store."""
    from zenml_devices_tui.core.secret import Secret
    from zenml_devices_tui.core.token_store import StoredToken, open_token_store

    open_token_store(home, backend="file").put(StoredToken(url, Secret(token), None, device_id, None))


def _zenml_login(server: RealServer, config: Path) -> dict[str, str]:
    """``zenml login URL`` approved through the API as the admin, like a user clicking the link."""
    env = clean_env(ZENML_CONFIG_PATH=str(config), BROWSER="true", ZENML_ANALYTICS_OPT_IN="false", COLUMNS="400")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # behave like a user's install
    zenml = server.venv / "bin" / "zenml"
    proc = subprocess.Popen(
        [str(zenml), "login", server.base_url], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env=env, text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            match = _URL.search(line)
            if match:
                user_code = match.group(0).rsplit("user_code=", 1)[1]
                r = server.approve(device_id_from_uri(match.group(0)), user_code)
                if r.status_code != 200:
                    raise RuntimeError(f"approving the zenml CLI's device failed: {r.status_code} {r.text}")
                break
        rest, _ = proc.communicate(timeout=120)
        seen.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"zenml login failed ({proc.returncode}):\n{''.join(seen)[-2000:]}")
    cfg = config / "config.yaml"  # no analytics calls to the outside world during the timing
    cfg.write_text(cfg.read_text().replace("analytics_opt_in: true", "analytics_opt_in: false"))
    env.pop("COLUMNS")
    return env


# ---------------------------------------------------------------------------- single runs


@dataclass
class Run:
    seconds: float
    rss_mb: float
    requests: int


def run_app(setup: Setup, *extra: str, timeout: float = 60.0) -> tuple[Run, PtyRun]:
    """Start ``zenml-devices URL`` in a pty; time until a seeded hostname is on screen; quit."""
    before = setup.requests()
    pty = PtyRun([str(APP), setup.url, *extra], setup.app_env).start()
    try:
        seconds = pty.wait_for_text(HOSTNAME, timeout)
    finally:
        pty.close()
    time.sleep(0.05)  # the access log line of the last request may trail the response
    return Run(seconds, (pty.max_rss_kb or 0) / 1024, setup.requests() - before), pty


def run_cli(setup: Setup, timeout: float = 120.0) -> Run:
    """``zenml authorized-device list`` in the same kind of pty, until it exits."""
    before = setup.requests()
    pty = PtyRun([str(setup.zenml), "authorized-device", "list"], setup.cli_env).start()
    try:
        rc = pty.wait_exit(timeout)
    finally:
        pty.close(quit_keys=b"")
    if rc != 0 or not HOSTNAME.search(pty.text()):
        raise RuntimeError(f"zenml authorized-device list failed ({rc}):\n{pty.text()[-1500:]}")
    assert pty.exited is not None
    time.sleep(0.05)
    return Run(pty.exited - pty.started, (pty.max_rss_kb or 0) / 1024, setup.requests() - before)


# ---------------------------------------------------------------------------- figures


def first_table(setup: Setup, runs: int, log=print) -> list[Figure]:
    """Time to the first device table, the app and the CLI alternating, after one warm-up each."""
    warm_app, warm_cli = run_app(setup)[0].seconds, run_cli(setup).seconds
    log(f"  warm-up (not counted): zenml-devices {warm_app:.3f} s, zenml CLI {warm_cli:.3f} s")
    app: list[Run] = []
    cli: list[Run] = []
    for i in range(runs):
        app.append(run_app(setup)[0])
        cli.append(run_cli(setup))
        log(f"  run {i + 1}/{runs}: zenml-devices {app[-1].seconds:.3f} s, zenml CLI {cli[-1].seconds:.3f} s")
    n = DEVICES + 1  # the seeded devices and the CLI's own
    a = Figure(f"first table, {n} devices (zenml-devices)", "s", [r.seconds for r in app], ("<=", 0.6),
               note=f"start in a pty to a seeded hostname on screen; warm-up run {warm_app:.2f} s")
    c = Figure(f"`zenml authorized-device list`, {n} devices", "s", [r.seconds for r in cli],
               note=f"start to exit, same pty; warm-up run {warm_cli:.2f} s")
    ratio = Figure(
        "zenml CLI ÷ zenml-devices (ratio of medians)", "×", [c.median / a.median], (">=", 8.0),
        note="per-pair ratios %.1f–%.1f" % (min(x.seconds / y.seconds for x, y in zip(cli, app)),
                                             max(x.seconds / y.seconds for x, y in zip(cli, app))),
    )
    return [
        a, c, ratio,
        Figure("peak RSS, zenml-devices (50-device run)", "MB", [r.rss_mb for r in app]),
        Figure("peak RSS, zenml CLI", "MB", [r.rss_mb for r in cli]),
        Figure("HTTP requests to first table, zenml-devices", "requests", [r.requests for r in app]),
        Figure("HTTP requests, zenml CLI list", "requests", [r.requests for r in cli]),
    ]


def idle_output(setup: Setup, seconds: float) -> list[Figure]:
    """Bytes written per refresh with ``--refresh 1`` once the table is shown and settled.

    The table is filtered to the seeded devices, so the cursor starts on ``bench-host-000``,
    the device the app is signed in with: the server bumps its ``updated`` and ``last_login``
    on every request. Measured there, then one row down, on a device that does not change.
    """
    names = ("idle output per refresh, cursor on a device that does not change",
             "idle output per refresh, cursor on the app's own device")
    pty = PtyRun([str(APP), setup.url, "--refresh", "1"], setup.app_env).start()
    figures: dict[str, Figure] = {}
    try:
        pty.wait_for_text(HOSTNAME, 60)
        pty.read_for(1.0)
        pty.send(f"/{HOST_PREFIX}-\r".encode())
        # Let the filter, the cursor move and any notification (5 s by default) settle.
        for name, keys, settle in ((names[1], b"", 6.0), (names[0], b"j", 2.0)):
            pty.send(keys)
            pty.read_for(settle)
            pty.wait_quiet(0.3, 3.0)
            refreshes0, t0 = setup.list_requests(), time.perf_counter()
            pty.read_for(seconds)
            t1 = time.perf_counter()
            time.sleep(0.05)
            refreshes = setup.list_requests() - refreshes0
            written = pty.bytes_between(t0, t1)
            if refreshes == 0:
                figures[name] = failed(name, "bytes", f"no refresh in {seconds:.0f} s ({written} bytes)", ("<=", 200))
                continue
            figures[name] = Figure(name, "bytes", [written / refreshes], ("<=", 200),
                                   note=f"{written} bytes over {refreshes} refreshes in {t1 - t0:.1f} s")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return [failed(names[0], "bytes", exc, ("<=", 200))]
    finally:
        pty.close()
    return [figures[n] for n in names if n in figures]


def help_time(runs: int) -> Figure:
    env = app_env(Path(tempfile.gettempdir()) / "zenml-devices-bench-help")
    samples = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run([str(APP), "--help"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, check=True)
        if i:  # the first run warms the file cache
            samples.append(time.perf_counter() - t0)
    return Figure("`zenml-devices --help`", "s", samples, ("<=", 0.1))
