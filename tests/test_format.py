"""core.format: relative and absolute times as people read them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from zenml_devices_tui.core.format import (
    absolute,
    absolute_and_relative,
    clock_time,
    relative,
    session_validity,
)

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=-59), "just now"),
        (timedelta(seconds=-60), "1 min ago"),
        (timedelta(minutes=-3, seconds=-59), "3 min ago"),
        (timedelta(minutes=-59), "59 min ago"),
        (timedelta(hours=-2, minutes=-59), "2 h ago"),
        (timedelta(days=-1), "1 d ago"),
        (timedelta(days=-59), "59 d ago"),
        (timedelta(days=-90), "3 mo ago"),
        (timedelta(days=-800), "2 y ago"),
        (timedelta(seconds=30), "in <1 min"),
        (timedelta(minutes=5), "in 5 min"),
        (timedelta(hours=2, minutes=30), "in 2 h"),
        (timedelta(days=30), "in 30 d"),
    ],
)
def test_relative(offset: timedelta, expected: str) -> None:
    assert relative(NOW + offset, NOW) == expected


def test_relative_none_is_never_or_what_the_caller_says() -> None:
    assert relative(None, NOW) == "never"
    assert relative(None, NOW, none="–") == "–"


def test_relative_is_coarse_so_a_refresh_rarely_changes_it() -> None:
    then = NOW - timedelta(minutes=3, seconds=10)
    words = {relative(then, NOW + timedelta(seconds=s)) for s in range(0, 50, 5)}
    assert words == {"3 min ago"}


def test_absolute_is_utc_and_says_so() -> None:
    assert absolute(NOW) == "2026-12-03 12:00:00 UTC"
    berlin = timezone(timedelta(hours=1))
    assert absolute(datetime(2026, 12, 3, 13, 0, 0, tzinfo=berlin)) == "2026-12-03 12:00:00 UTC"
    assert absolute(datetime(2026, 12, 3, 12, 0, 0)) == "2026-12-03 12:00:00 UTC"  # naive = UTC
    assert absolute(None) == "never"


def test_clock_time_and_combined() -> None:
    assert clock_time(NOW + timedelta(seconds=5)) == "12:00:05"
    assert absolute_and_relative(NOW - timedelta(hours=3), NOW) == "2026-12-03 09:00:00 UTC (3 h ago)"
    assert absolute_and_relative(None, NOW) == "never"


def test_session_validity() -> None:
    assert session_validity(None, NOW) == "never expires"
    assert session_validity(NOW + timedelta(hours=23, minutes=59), NOW) == "expires in 23 h (2026-12-04 11:59:00 UTC)"
    assert session_validity(NOW - timedelta(minutes=3), NOW) == "expired 3 min ago"


def test_format_imports_no_textual_or_rich() -> None:
    import subprocess
    import sys

    code = (
        "import sys, zenml_devices_tui.core.format\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
