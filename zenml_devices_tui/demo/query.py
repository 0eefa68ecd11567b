"""``GET /api/v1/devices`` query parameters: filters, sorting and paging as ``OAuthDeviceFilter`` does them.

Filter values are ``[operator:]value`` (``id=startswith:3211``, ``status=oneof:["active","locked"]``,
``failed_auth_attempts=gte:1``, ``expires=gte:2026-12-04 00:00:00``). Unknown parameters are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from zenml_devices_tui.demo import errors, filters
from zenml_devices_tui.demo.filters import FilterError, Predicate
from zenml_devices_tui.demo.records import Device, User

# The filter model's fields in declaration order (pydantic prints its input in this order).
MODEL_FIELDS = (
    "sort_by", "logical_operator", "page", "size", "id", "created", "updated", "scope_user", "user",
    "expires", "client_id", "status", "trusted_device", "failed_auth_attempts", "last_login",
)
SINGLE_VALUED = ("sort_by", "logical_operator", "page", "size", "scope_user", "trusted_device")
NOT_SORTABLE = ("sort_by", "page", "size", "logical_operator")
# Checked while the model is built, in this order; ``user`` only when the query runs.
MODEL_FILTERS = ("id", "created", "updated", "expires", "client_id", "status", "trusted_device",
                 "failed_auth_attempts", "last_login")
DATETIME_FIELDS = ("created", "updated", "expires", "last_login")


@dataclass
class DeviceQuery:
    """A validated list request. ``deferred`` is an error the server only hits when it runs the query."""

    sort_column: str = "created"
    descending: bool = False
    use_or: bool = False
    predicates: list[Predicate] = field(default_factory=list)
    deferred: errors.ApiError | None = None

    def matches(self, device: Device) -> bool:
        if not self.predicates:
            return True
        results = (predicate(device) for predicate in self.predicates)
        return any(results) if self.use_or else all(results)


def build_query(params: list[tuple[str, str]], logical_operator: str, users: dict[str, User]) -> DeviceQuery:
    """Build the filter model from the query string, raising its 422 ``{"detail": [...]}`` errors."""
    values: dict[str, Any] = {name: None for name in MODEL_FIELDS}
    values.update(sort_by="created", logical_operator=logical_operator)
    for key, value in params:
        if key in SINGLE_VALUED:
            values[key] = value
        elif key in MODEL_FIELDS:
            values[key] = [*(values[key] or []), value]

    def model_error(message: str) -> FilterError:
        return FilterError(errors.filter_validation_error([errors.LineError.of(None, message, values)]))

    query = DeviceQuery(use_or=logical_operator == "or")
    try:
        for name in MODEL_FILTERS:
            for raw in _as_list(values[name]):
                query.predicates.append(_model_filter(name, raw, model_error))
        query.sort_column, query.descending = _sorting(values["sort_by"])
    except FilterError as exc:
        raise exc.api_error from None
    def query_error(message: str) -> FilterError:
        return FilterError(errors.value_error(message))

    try:
        for raw in _as_list(values["user"]):
            operator, value = filters.resolve_operator(raw, query_error)
            filters.check_text_operator(operator, for_user=True)
            query.predicates.append(filters.user_predicate(operator, value, users))
    except FilterError as exc:
        query.deferred = exc.api_error
    return query


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _model_filter(name: str, raw: str, model_error: Any) -> Predicate:
    operator, value = filters.resolve_operator(raw, model_error)
    if name in DATETIME_FIELDS:
        return filters.datetime_predicate(name, operator, value, model_error)
    if name == "failed_auth_attempts":
        return filters.int_predicate(operator, value, model_error)
    if name == "trusted_device":
        return filters.bool_predicate(operator, value)
    filters.check_text_operator(operator)
    if name == "status":
        column = filters.COLUMN_NAMES[name]
        return filters.text_predicate(lambda device: device.status, operator, value, column)
    return filters.uuid_predicate(name, operator, value, filters.COLUMN_NAMES[name])


def _sorting(sort_by: str) -> tuple[str, bool]:
    """``[asc:|desc:]<field>``; an unknown direction falls back to ascending, like the server."""
    column, descending, value = sort_by, False, sort_by
    head, sep, tail = sort_by.partition(":")
    if sep:
        column, descending = tail, head == "desc"
        if head not in ("asc", "desc"):
            value = column
    if column == "user":
        return column, descending

    def invalid(message: str) -> FilterError:
        return FilterError(errors.filter_validation_error([errors.LineError.of("sort_by", message, sort_by)]))

    if column in NOT_SORTABLE:
        raise invalid(f"This resource can not be sorted by this field: '{value}'")
    if column not in MODEL_FIELDS:
        raise invalid("You can only sort by valid fields of this resource")
    return column, descending


def sort_devices(devices: list[Device], query: DeviceQuery, users: dict[str, User]) -> list[Device]:
    """Order like SQLite: NULLs first when ascending, and the id as tiebreaker in the same direction."""
    column = query.sort_column
    if column == "scope_user":
        raise RuntimeError("the devices table has no scope_user column")  # the real server fails too

    def key(device: Device) -> tuple[bool, Any, str]:
        if column == "user":
            owner = users.get(device.user_id or "")
            value: Any = owner.name if owner else None
        else:
            value = getattr(device, column)
        return (value is not None, value if value is not None else 0, device.id)

    return sorted(devices, key=key, reverse=query.descending)


def paginate(total: int, page: int, size: int) -> tuple[int, int]:
    """(offset, total_pages) for a page; a page past the end is the server's 400."""
    total_pages = max(1, math.ceil(total / size))
    if page > total_pages:
        raise errors.value_error(
            f"Invalid page {page}. The requested page size is {size} and there are a total of {total} "
            f"items for this query. The maximum page value therefore is {total_pages}."
        )
    return (page - 1) * size, total_pages
