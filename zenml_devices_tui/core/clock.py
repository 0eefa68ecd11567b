"""A clock that tests, snapshots and screenshots can control.

``FakeClock`` gives a wall clock (aware UTC datetimes), a monotonic clock and an
async ``sleep`` that returns only when :meth:`FakeClock.advance` moves time past
its deadline, so nothing waits for real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import datetime, timedelta, timezone

FIXED_START = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self, start: datetime = FIXED_START, monotonic_start: float = 1000.0) -> None:
        self.wall = start
        self.mono = monotonic_start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.mono + seconds, next(self._order), future))
        await future

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        """Move both clocks forward and wake every sleeper whose time has come."""
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self.mono:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
