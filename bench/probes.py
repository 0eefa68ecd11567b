"""In-process measurements of the app, headless (``App.run_test``), against the demo server.

Each probe runs in a process of its own (``python -m bench.probes NAME ...``) so that one
probe's memory does not weigh on the next, and prints one JSON object.

* ``scale``: many devices: time from the data's arrival to the filled table, then the CPU time
  of refreshes in which nothing changed and in which 1% of the devices changed, and the
  HTTP requests one refresh makes.
* ``soak``: RSS before and after many refreshes.

The app is the real one, built the way the tests build it (``tests/uihelpers.py``: demo
server, FakeClock, memory token store). A refresh is one call of
``DevicesScreen.refresh_once()``, the same coroutine the screen's refresh loop awaits; the
FakeClock keeps that loop asleep, so the probe alone decides when a refresh happens. The
demo server answers in this process, so the CPU it spends building its responses is
measured separately (:class:`Meter`) and subtracted: a real server does that work elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.uihelpers import make_harness
from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.token_store import StoredToken
from zenml_devices_tui.ui.app import DevicesApp
from zenml_devices_tui.ui.screens.devices import DevicesScreen

SIZE = (120, 40)


def vm_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter(httpx.AsyncBaseTransport):
    """The demo server's transport, with the requests it answered and the CPU it spent doing so."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.cpu = 0.0
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.process_time()
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.cpu += time.process_time() - start
            self.requests += 1


class Bench:
    """The app on a demo server with ``devices`` devices, signed in, headless."""

    def __init__(self, devices: int, workdir: Path) -> None:
        self.harness = make_harness(workdir, device_count=devices)
        self.demo = self.harness.demo
        self.own_device, token = self.demo.device_token()
        self.harness.context.token_store.put(
            StoredToken(self.demo.base_url, Secret(token), None, self.own_device, None)
        )
        self.meter = Meter(self.demo.transport)
        self.arrivals: list[tuple[float, int]] = []  # (when list_devices returned, how many devices)
        bench = self

        class TimedClient(ZenMLClient):
            async def list_devices(self, **kw: Any):  # type: ignore[override]
                devices = await super().list_devices(**kw)
                if kw.get("updated_since") is None:  # a full list (the first, or after a deletion)
                    bench.arrivals.append((time.perf_counter(), len(devices)))
                return devices

        context = self.harness.context
        context.make_client = lambda url: TimedClient(url, transport=self.meter, user_agent=context.user_agent)
        self.app = DevicesApp(context)

    async def first_table(self, pilot: Any, timeout: float = 120.0) -> dict[str, float]:
        """Wait for the first refresh to fill the table; seconds from data arrival to filled and painted."""
        deadline = time.perf_counter() + timeout
        while not (self.arrivals and isinstance(self.app.screen, DevicesScreen)
                   and self.app.screen.table.row_count >= self.arrivals[0][1] > 0):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no full table within {timeout:.0f} s (screen {self.app.screen!r})")
            await asyncio.sleep(0.001)
        filled = time.perf_counter()
        await pilot.pause()
        painted = time.perf_counter()
        arrived = self.arrivals[0][0]
        return {"filled": filled - arrived, "painted": painted - arrived, "rows": self.arrivals[0][1]}

    @property
    def screen(self) -> DevicesScreen:
        screen = self.app.screen
        assert isinstance(screen, DevicesScreen), screen
        return screen

    async def refresh(self, pilot: Any, settle: float | None = None) -> dict[str, float]:
        """One refresh and the redraw after it: CPU of the app alone, requests made.

        ``settle``: None waits until the app is idle (``pilot.pause()``); 0 only lets every
        widget handle its pending messages and draws once (fast, for long loops).
        """
        cpu0, server0, requests0 = time.process_time(), self.meter.cpu, self.demo.request_count
        wall0 = time.perf_counter()
        ok = await self.screen.refresh_once()
        await pilot.pause(settle)
        wall = time.perf_counter() - wall0
        server = self.meter.cpu - server0
        if ok is not True:
            raise RuntimeError(f"refresh failed: {self.screen.problem!r}")
        return {
            "cpu": time.process_time() - cpu0 - server,
            "server_cpu": server,
            "wall": wall,
            "requests": self.demo.request_count - requests0,
        }

    def change(self, count: int, round_: int) -> None:
        """Change ``count`` of the user's devices (never the app's own), spread over the list:
        status (active/locked) and last login."""
        ids = sorted(d.id for d in self.demo.devices.values() if d.user_id == self.demo.user_id
                     and d.id != self.own_device and d.status in ("active", "locked"))
        if not ids:
            return
        step = max(1, len(ids) // max(1, count))
        now = self.demo.now()
        for i in range(count):
            device = self.demo.devices[ids[(i * step + round_) % len(ids)]]
            device.status = "locked" if device.status == "active" else "active"
            device.last_login = now
            device.updated = now


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


async def scale(devices: int, runs: int, workdir: Path) -> dict[str, Any]:
    bench = Bench(devices, workdir)
    async with bench.app.run_test(size=SIZE) as pilot:
        first = await bench.first_table(pilot)
        rss_after_fill = vm_rss_mb()
        await bench.refresh(pilot)  # warm-up: the second fetch of anything is the steady state
        unchanged = [await bench.refresh(pilot) for _ in range(runs)]
        changed = []
        count = max(1, devices // 100)
        for i in range(runs):
            bench.change(count, i)
            changed.append(await bench.refresh(pilot))
            if bench.screen.table.row_count != first["rows"]:
                raise RuntimeError("the table lost or gained rows in a changed refresh")
    return {
        "devices": first["rows"],
        "fill": first,
        "unchanged": unchanged,
        "changed": changed,
        "changed_count": count,
        "rss_after_fill": rss_after_fill,
        "peak_rss": peak_rss_mb(),
    }


async def soak(devices: int, refreshes: int, change_every: int, workdir: Path) -> dict[str, Any]:
    """RSS after the first table, after a warm-up of 100 refreshes (Textual's bounded render
    caches fill up), and after ``refreshes`` more.

    Every ``change_every``-th refresh follows a change of one device (status and last
    login), so the update path runs too, as it does against a server in use.
    """
    bench = Bench(devices, workdir)
    step = 0

    async def run(count: int, trace: list[tuple[int, float]] | None = None) -> None:
        nonlocal step
        for i in range(1, count + 1):
            step += 1
            if step % change_every == 0:
                bench.change(1, step // change_every)
            await bench.refresh(pilot, settle=0)
            if trace is not None and i % max(1, count // 10) == 0:
                trace.append((i, vm_rss_mb()))

    async with bench.app.run_test(size=SIZE) as pilot:
        await bench.first_table(pilot)
        gc.collect()
        first = vm_rss_mb()
        await run(100)
        await pilot.pause()
        gc.collect()
        before = vm_rss_mb()
        trace = [(0, before)]
        t0 = time.perf_counter()
        await run(refreshes, trace)
        seconds = time.perf_counter() - t0
        await pilot.pause()
        gc.collect()
        after = vm_rss_mb()
    return {"first_table": first, "before": before, "after": after, "refreshes": refreshes, "seconds": seconds,
            "devices": bench.arrivals[-1][1], "changed": refreshes // change_every, "trace": trace}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=("scale", "soak"))
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="refreshes of each kind (scale)")
    parser.add_argument("--refreshes", type=int, default=2000, help="refreshes (soak)")
    parser.add_argument("--change-every", type=int, default=10, help="change one device every N refreshes (soak)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zenml-devices-bench-") as tmp:
        if args.probe == "scale":
            result = asyncio.run(scale(args.devices, args.runs, Path(tmp)))
        else:
            result = asyncio.run(soak(args.devices, args.refreshes, args.change_every, Path(tmp)))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
