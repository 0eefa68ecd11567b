"""Pure formatting helpers for times shown to people (no Textual, no Rich).

Relative times are coarse on purpose ("just now", "3 min ago", "in 2 h"): a table
refreshed every few seconds then redraws a cell only when the words change.
Absolute times are shown in UTC and say so, because the server stores UTC and the
same screen is read by people in different time zones (over SSH, too).
"""

from __future__ import annotations

from datetime import datetime, timezone

NEVER = "never"

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_MONTH = 30 * _DAY
_YEAR = 365 * _DAY


def _amount(seconds: float) -> str:
    """A whole number of the largest unit that fits, rounded down ("3 min", "2 h", "5 d")."""
    s = int(seconds)
    if s < _HOUR:
        return f"{max(1, s // _MINUTE)} min"
    if s < _DAY:
        return f"{s // _HOUR} h"
    if s < 2 * _MONTH:
        return f"{s // _DAY} d"
    if s < _YEAR:
        return f"{s // _MONTH} mo"
    return f"{s // _YEAR} y"


def relative(when: datetime | None, now: datetime, *, none: str = NEVER) -> str:
    """``when`` relative to ``now``: "just now", "3 min ago", "in 2 h", "in <1 min"; ``none`` for None."""
    if when is None:
        return none
    seconds = (when - now).total_seconds()
    if seconds <= 0:
        ago = -seconds
        if ago < _MINUTE:
            return "just now"
        return f"{_amount(ago)} ago"
    if seconds < _MINUTE:
        return "in <1 min"
    return f"in {_amount(seconds)}"


def relative_past(when: datetime | None, now: datetime, *, none: str = NEVER) -> str:
    """:func:`relative` for something that already happened (a login): a server clock a little ahead
    of ours makes it "just now", never "in <1 min"."""
    if when is not None and when > now:
        when = now
    return relative(when, now, none=none)


def absolute(when: datetime | None, *, none: str = NEVER) -> str:
    """``2026-12-03 12:00:05 UTC``; ``none`` for None."""
    if when is None:
        return none
    return _utc(when).strftime("%Y-%m-%d %H:%M:%S UTC")


def absolute_minute(when: datetime | None, *, none: str = NEVER) -> str:
    """``2026-12-03 12:00 UTC``; ``none`` for None."""
    if when is None:
        return none
    return _utc(when).strftime("%Y-%m-%d %H:%M UTC")


def clock_time(when: datetime) -> str:
    """``12:00:05`` (UTC), for "last refresh" and "stale since"."""
    return _utc(when).strftime("%H:%M:%S")


def absolute_and_relative(when: datetime | None, now: datetime, *, none: str = NEVER) -> str:
    """``2026-12-03 12:00:05 UTC (3 min ago)``, or ``none``."""
    if when is None:
        return none
    return f"{absolute(when)} ({relative(when, now)})"


def session_validity(expires_at: datetime | None, now: datetime) -> str:
    """How long a session stays valid: "never expires", "expires in 23 h", "expired 3 min ago"."""
    if expires_at is None:
        return "never expires"
    if expires_at <= now:
        return f"expired {relative(expires_at, now)}"
    return f"expires {relative(expires_at, now)} ({absolute(expires_at)})"


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)
