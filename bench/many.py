"""Many devices, requests per refresh and the soak, against the demo server.

The in-process figures come from ``bench/probes.py``, run in a fresh process each time.
Peak RSS with 10,000 devices is taken from the real ``zenml-devices`` process, in a pty,
against the demo server served over HTTP by ``bench/demo_http.py`` in another process, so
the figure holds the app alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.live import APP, app_env, store_token
from bench.report import Figure, failed
from bench.terminal import PtyRun

REPO = Path(__file__).resolve().parent.parent
MANY = 10_000


def probe(*args: str, timeout: float = 900.0) -> dict[str, Any]:
    """Run ``python -m bench.probes ARGS`` and return its JSON answer."""
    done = subprocess.run([sys.executable, "-m", "bench.probes", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"probe {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scale(processes: int, runs: int, log=print) -> list[Figure]:
    """10,000 devices in-process: fill time, refresh CPU (unchanged, 1% changed), requests."""
    results = []
    for i in range(processes):
        results.append(probe("scale", "--devices", str(MANY), "--runs", str(runs)))
        r = results[-1]
        log(f"  scale {i + 1}/{processes}: filled {r['fill']['painted']:.2f} s, unchanged "
            f"{1000 * r['unchanged'][0]['cpu']:.0f} ms, changed {1000 * r['changed'][0]['cpu']:.0f} ms CPU")
    small = probe("scale", "--devices", "50", "--runs", "3")
    n = results[0]["devices"]
    unchanged = [x for r in results for x in r["unchanged"]]
    changed = [x for r in results for x in r["changed"]]
    server = [1000 * x["server_cpu"] for x in unchanged]
    filled = [r["fill"]["filled"] for r in results]
    return [
        Figure(f"{n:,} devices: table filled and drawn after data arrives", "s",
               [r["fill"]["painted"] for r in results], ("<=", 1.5),
               note="rows all in the table after %.2f s (median); headless" % sorted(filled)[len(filled) // 2]),
        Figure(f"{n:,} devices: CPU of an unchanged refresh", "ms", [1000 * x["cpu"] for x in unchanged],
               ("<=", 50), note="app only; the demo server's own %.0f ms subtracted" % sorted(server)[len(server) // 2]),
        Figure(f"{n:,} devices: CPU of a refresh with 1% changed", "ms", [1000 * x["cpu"] for x in changed],
               ("<=", 100), note=f"{results[0]['changed_count']} devices changed status and last login"),
        Figure(f"{small['devices']} devices: CPU of an unchanged refresh", "ms",
               [1000 * x["cpu"] for x in small["unchanged"]]),
        Figure(f"{small['devices']} devices: CPU of a refresh with 1 device changed", "ms",
               [1000 * x["cpu"] for x in small["changed"]]),
        Figure(f"HTTP requests per refresh, {small['devices']} devices", "requests",
               [x["requests"] for x in small["unchanged"]]),
        Figure(f"HTTP requests per refresh, {n:,} devices", "requests", [x["requests"] for x in unchanged],
               note="the change probe (core/sync.py); a full list is pages of 1,000"),
        Figure(f"in-process peak RSS, {n:,} devices (app + demo server)", "MB",
               [r["peak_rss"] for r in results]),
    ]


def peak_rss(runs: int, log=print) -> list[Figure]:
    """``zenml-devices URL`` in a pty against 10,000 demo devices over HTTP: first table and peak RSS."""
    server = subprocess.Popen([sys.executable, "-m", "bench.demo_http", "--devices", str(MANY)], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds, rss = [], []
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"demo_http did not start:\n{server.stderr.read()[-2000:] if server.stderr else ''}")
        info = json.loads(line)
        with tempfile.TemporaryDirectory(prefix="zenml-devices-bench-") as tmp:
            home = Path(tmp) / "home"
            store_token(home, info["url"], info["token"])
            for i in range(runs):
                pty = PtyRun([str(APP), info["url"]], app_env(home)).start()
                try:
                    seconds.append(pty.wait_for_text(re.escape(info["first_hostname"]), 180))
                    pty.read_for(1.0)
                    pty.wait_quiet(0.5, 10)  # let it finish drawing before quitting
                finally:
                    pty.close()
                rss.append((pty.max_rss_kb or 0) / 1024)
                log(f"  {info['devices']:,} devices over HTTP, run {i + 1}/{runs}: first table "
                    f"{seconds[-1]:.2f} s, peak RSS {rss[-1]:.0f} MB")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return [failed(f"{MANY:,} devices: peak RSS of zenml-devices", "MB", exc, ("<=", 150))]
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    n = info["devices"]
    return [
        Figure(f"{n:,} devices: peak RSS of zenml-devices", "MB", rss, ("<=", 150),
               note="the app process alone (wait4 ru_maxrss), demo server over HTTP in another process"),
        Figure(f"{n:,} devices: start to first table, demo over HTTP", "s", seconds,
               note="in a pty; includes fetching 11 pages from a local server"),
    ]


def soak(refreshes: int, log=print) -> Figure:
    name = f"soak: RSS growth over {refreshes:,} refreshes"
    try:
        r = probe("soak", "--devices", "50", "--refreshes", str(refreshes))
    except Exception as exc:  # noqa: BLE001
        return failed(name, "MB", exc, ("<=", 5))
    log(f"  soak: {r['before']:.1f} → {r['after']:.1f} MB over {refreshes} refreshes in {r['seconds']:.0f} s")
    trace = ", ".join(f"{rss:.1f}" for _, rss in r["trace"][:: max(1, len(r["trace"]) // 5)])
    return Figure(name, "MB", [r["after"] - r["before"]], ("<=", 5),
                  note=f"VmRSS {r['first_table']:.1f} at first table, {r['before']:.1f} after 100 warm-up refreshes, then "
                       f"{trace}; {r['devices']} devices, one "
                       f"changed every 10th refresh; {1000 * r['seconds'] / refreshes:.0f} ms a refresh")
