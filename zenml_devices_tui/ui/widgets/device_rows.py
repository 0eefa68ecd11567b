"""The device table's model, kept outside the widget: columns, row values, filter, sort and diff.

Nothing here imports Textual or draws anything. A row is a tuple of plain strings, one per
column; the screen compares the tuples of two refreshes (:func:`plan_update`) and hands the
table only what changed, so an unchanged refresh touches no cell.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from zenml_devices_tui.core.format import relative, relative_past
from zenml_devices_tui.core.models import Device

Row = tuple[str, ...]

THIS_DEVICE_MARK = "»"
_MISSING_TIME_LOW = datetime.min.replace(tzinfo=timezone.utc)
_MISSING_TIME_HIGH = datetime.max.replace(tzinfo=timezone.utc)
_STATUS_ORDER = {"active": 0, "expired": 1, "verified": 2, "pending": 3, "locked": 4}


def _text_key(value: str | None) -> tuple[int, str]:
    # Missing values sort last in ascending order.
    return (1, "") if not value else (0, value.casefold())


_DIGITS = re.compile(r"(\d+)")


def _natural_key(value: str | None) -> tuple[int, tuple[Any, ...]]:
    """``3.10.1`` after ``3.9.2``: digit runs compare as numbers."""
    if not value:
        return (1, ())
    parts = _DIGITS.split(value.casefold())
    return (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))


def _ip_key(value: str | None) -> tuple[int, int, int, str]:
    if not value:
        return (2, 0, 0, "")
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return (1, 0, 0, value)
    return (0, ip.version, int(ip), "")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    #: Sort key for a device; None means the column cannot be sorted by.
    sort_key: Callable[[Device, datetime], Any] | None = None


COLUMNS: tuple[Column, ...] = (
    Column("this", ""),
    Column("hostname", "Hostname", lambda d, now: _text_key(d.hostname)),
    Column("status", "Status", lambda d, now: _STATUS_ORDER.get(d.display_status(now), 9)),
    Column("trusted", "Trusted", lambda d, now: not d.trusted_device),
    Column("ip", "IP address", lambda d, now: _ip_key(d.ip_address)),
    Column("location", "Location", lambda d, now: _text_key(d.location)),
    Column("os", "OS", lambda d, now: _text_key(d.os)),
    Column("zenml", "ZenML", lambda d, now: _natural_key(d.zenml_version)),
    Column("python", "Python", lambda d, now: _natural_key(d.python_version)),
    Column("last_login", "Last login", lambda d, now: d.last_login or _MISSING_TIME_LOW),
    Column("expires", "Expires", lambda d, now: d.expires or _MISSING_TIME_HIGH),
    Column("failed", "Fails", lambda d, now: d.failed_auth_attempts or 0),
    Column("id", "ID", lambda d, now: d.id),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)
COLUMN_INDEX: dict[str, int] = {c.key: i for i, c in enumerate(COLUMNS)}
SORTABLE: tuple[str, ...] = tuple(c.key for c in COLUMNS if c.sort_key is not None)
DEFAULT_SORT = "hostname"
HOSTNAME_CELL_LIMIT = 32


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def device_row(device: Device, now: datetime, this_device_id: str | None) -> Row:
    """The plain-text cell values of one device, in :data:`COLUMNS` order. Empty = missing."""
    failed = device.failed_auth_attempts
    return (
        THIS_DEVICE_MARK if device.id == this_device_id else "",
        _clip(device.hostname or "", HOSTNAME_CELL_LIMIT),
        device.display_status(now),
        "yes" if device.trusted_device else "no",
        device.ip_address or "",
        device.location,
        device.os or "",
        device.zenml_version or "",
        device.python_version or "",
        relative_past(device.last_login, now),
        relative(device.expires, now),
        "" if failed is None else str(failed),
        device.short_id,
    )


def search_text(device: Device, now: datetime) -> str:
    """What the filter looks in: hostname, IP, id, OS, location, versions and status, case-folded."""
    parts = (
        device.hostname,
        device.ip_address,
        device.id,
        device.os,
        device.city,
        device.region,
        device.country,
        device.zenml_version,
        device.python_version,
        device.display_status(now),
    )
    return "\n".join(p for p in parts if p).casefold()


def matches(device: Device, needle: str, now: datetime) -> bool:
    needle = needle.strip().casefold()
    return not needle or needle in search_text(device, now)


def sort_devices(devices: Sequence[Device], column: str, reverse: bool, now: datetime) -> list[Device]:
    """Devices ordered by ``column`` (ties by hostname, then id, always ascending)."""
    spec = COLUMNS[COLUMN_INDEX.get(column, COLUMN_INDEX[DEFAULT_SORT])]
    key = spec.sort_key or COLUMNS[COLUMN_INDEX[DEFAULT_SORT]].sort_key
    assert key is not None
    # Two stable sorts: first the tie-breakers, then the column in the wanted direction.
    ordered = sorted(devices, key=lambda d: (_text_key(d.hostname), d.id))
    ordered.sort(key=lambda d: key(d, now), reverse=reverse)
    return ordered


def next_sort_column(current: str) -> str:
    try:
        i = SORTABLE.index(current)
    except ValueError:
        return DEFAULT_SORT
    return SORTABLE[(i + 1) % len(SORTABLE)]


@dataclass
class RowPlan:
    """What the table must do to go from one set of rows to the next."""

    remove: list[str] = field(default_factory=list)
    add: list[tuple[str, Row]] = field(default_factory=list)
    #: (row key, column index, new value)
    change: list[tuple[str, int, str]] = field(default_factory=list)
    #: The new order of every row key, or None when it did not change.
    order: list[str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.remove or self.add or self.change or self.order is not None)


def plan_update(
    old_rows: dict[str, Row],
    old_order: Sequence[str],
    new_rows: dict[str, Row],
    new_order: Sequence[str],
) -> RowPlan:
    """Compare two snapshots of the table by row key and cell value."""
    plan = RowPlan()
    for key in old_order:
        if key not in new_rows:
            plan.remove.append(key)
    for key in new_order:
        new = new_rows[key]
        old = old_rows.get(key)
        if old is None:
            plan.add.append((key, new))
        elif old != new:
            for index, (a, b) in enumerate(zip(old, new)):
                if a != b:
                    plan.change.append((key, index, b))
    # After removals and appends (added rows go to the bottom), is the order still right?
    removed = set(plan.remove)
    resulting = [k for k in old_order if k not in removed]
    resulting.extend(k for k, _ in plan.add)
    if resulting != list(new_order):
        plan.order = list(new_order)
    return plan


def tie_key(device: Device) -> tuple[tuple[int, str], str]:
    """The tie-breakers of every sort (hostname, then id), always ascending."""
    return (_text_key(device.hostname), device.id)


def column_sort_key(column: str) -> Callable[[Device, datetime], Any]:
    spec = COLUMNS[COLUMN_INDEX.get(column, COLUMN_INDEX[DEFAULT_SORT])]
    key = spec.sort_key or COLUMNS[COLUMN_INDEX[DEFAULT_SORT]].sort_key
    assert key is not None
    return key


def plan_patch(
    old_rows: dict[str, Row],
    old_order: Sequence[str],
    new_rows: dict[str, Row],
    new_order: Sequence[str] | None,
    changed: "set[str] | frozenset[str]",
) -> RowPlan:
    """Like :func:`plan_update` when only the rows in ``changed`` can differ, and ``new_order`` is
    None when the order did not change: cost by the number of changed rows, not the table's size."""
    if new_order is None:
        plan = RowPlan()
        for key in changed:
            old = old_rows.get(key)
            new = new_rows.get(key)
            if old is not None and new is not None and old != new:
                plan.change.extend((key, index, b) for index, (a, b) in enumerate(zip(old, new)) if a != b)
        return plan
    plan = RowPlan()
    plan.remove = [key for key in old_order if key not in new_rows]
    for key in new_order:
        old = old_rows.get(key)
        if old is None:
            plan.add.append((key, new_rows[key]))
        elif key in changed:
            new = new_rows[key]
            if old != new:
                plan.change.extend((key, index, b) for index, (a, b) in enumerate(zip(old, new)) if a != b)
    if plan.remove:
        removed = set(plan.remove)
        resulting = [k for k in old_order if k not in removed]
    else:
        resulting = list(old_order)
    resulting.extend(k for k, _ in plan.add)
    if resulting != list(new_order):
        plan.order = list(new_order)
    return plan
