"""One ``[operator:]value`` filter of the device list, checked and evaluated like zenml's filter models.

zenml validates filters while it builds ``OAuthDeviceFilter`` (errors: 422 ``{"detail": [...]}``), except
``user``, which it only reads when it runs the SQL query (errors: 400, after authentication). Values are
compared the way SQLite compares them: ``=`` exactly, ``LIKE`` ignoring ASCII case, numbers after a cast.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable

from zenml_devices_tui.demo import errors
from zenml_devices_tui.demo.records import Device, User
from zenml_devices_tui.demo.validate import is_uuid

Predicate = Callable[[Device], bool]
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# GenericFilterOps: value -> enum member name
OPERATORS = {
    "equals": "EQUALS", "notequals": "NOT_EQUALS", "contains": "CONTAINS", "startswith": "STARTSWITH",
    "endswith": "ENDSWITH", "oneof": "ONEOF", "notoneof": "NOT_ONEOF", "notcontains": "NOT_CONTAINS",
    "isnull": "IS_NULL", "isnotnull": "IS_NOT_NULL", "gte": "GTE", "gt": "GT", "lte": "LTE", "lt": "LT",
    "in": "IN",
}
COMPARISONS = ("gt", "gte", "lt", "lte")
TEXT_OPS = ("equals", "notequals", "startswith", "contains", "endswith", "oneof", "notoneof", "notcontains",
            "isnull", "isnotnull", *COMPARISONS)
BOOL_OPS = ("equals", "notequals", "isnull", "isnotnull")
INT_OPS = ("equals", "notequals", "isnull", "isnotnull", *COMPARISONS)
DATETIME_OPS = (*INT_OPS, "in")
ONEOF_ERROR = (
    "When you are using the 'oneof:'/'notoneof:' filtering make sure that the provided value is a json "
    "formatted list."
)
NO_VALUE_ERROR = (
    "When using 'isnull:'/'isnotnull:', use the explicit 'operator:' form without a value (e.g. 'isnull:')."
)
_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f"}
_SQLITE_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# How SQLAlchemy names the compared columns in "Failed to compare" errors.
COLUMN_NAMES = {"id": "auth_devices.id", "client_id": "auth_devices.client_id",
                "status": "OAuthDeviceSchema.status", "user": '"user".id'}


class FilterError(Exception):
    """Raised while building the filters; ``api_error`` is what the server answers."""

    def __init__(self, api_error: errors.ApiError) -> None:
        super().__init__(str(api_error))
        self.api_error = api_error


def _op_repr(operator: str) -> str:
    return f"<GenericFilterOps.{OPERATORS[operator]}: '{operator}'>"


def _operation_problem(operator: str, allowed: tuple[str, ...]) -> errors.LineError:
    listed = ", ".join(_op_repr(op) for op in allowed)
    message = (
        f"This datatype can not be filtered using this operation: '{operator}'. "
        f"The allowed operations are: [{listed}]"
    )
    return errors.LineError("operation", message, _op_repr(operator), "GenericFilterOps")


def resolve_operator(raw: str, model_error: Callable[[str], Exception]) -> tuple[str, Any]:
    """Split ``op:value`` (an unknown ``op`` means the whole text is an ``equals`` value)."""
    operator, value = "equals", raw
    head, sep, tail = raw.partition(":")
    if sep and head in OPERATORS:
        operator, value = head, tail
    if operator in ("isnull", "isnotnull"):
        if value:
            raise model_error(NO_VALUE_ERROR)
        return operator, None
    if operator in ("oneof", "notoneof"):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
        if not isinstance(value, list):
            raise model_error(ONEOF_ERROR)
    return operator, value


def sqlite_real(text: str) -> float:
    """``CAST(text AS REAL)`` in SQLite: the leading number, or 0.0."""
    match = _SQLITE_NUMBER.match(text)
    return float(match.group(0)) if match else 0.0


def text_predicate(get: Callable[[Device], str | None], operator: str, value: Any, column: str) -> Predicate:
    """A ``StrFilter`` on one column. Comparisons cast the column to a number, as zenml does."""
    if operator == "isnull":
        return lambda device: get(device) is None
    if operator == "isnotnull":
        return lambda device: get(device) is not None
    if operator in ("oneof", "notoneof"):
        wanted = {str(item) for item in value}
        if operator == "oneof":
            return lambda device: get(device) in wanted
        return lambda device: (have := get(device)) is not None and have not in wanted
    if operator in COMPARISONS:
        try:
            limit = float(value)
        except ValueError:
            raise FilterError(
                errors.value_error(
                    f"Failed to compare the column '{column}' to the value '{value}' (must be numeric): "
                    f"could not convert string to float: '{value}'"
                )
            ) from None
        return lambda device: (have := get(device)) is not None and _numeric_test(have, operator, limit)
    text = str(value)
    lowered = text.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda have: have == text,
        "notequals": lambda have: have != text,
        "contains": lambda have: lowered in have.lower(),
        "notcontains": lambda have: lowered not in have.lower(),
        "startswith": lambda have: have.lower().startswith(lowered),
        "endswith": lambda have: have.lower().endswith(lowered),
    }
    test = tests[operator]
    return lambda device: (have := get(device)) is not None and test(have)


def _numeric_test(text: str, operator: str, limit: float) -> bool:
    # zenml builds ``and_(col, col > value)`` on the column cast to REAL: 0 never matches.
    have = sqlite_real(text)
    passed = {"gt": have > limit, "gte": have >= limit, "lt": have < limit, "lte": have <= limit}[operator]
    return bool(have) and passed


def _compare(have: Any, operator: str, want: Any) -> bool:
    """SQL comparison: NULL matches nothing (``!=`` included)."""
    if have is None:
        return False
    tests = {
        "equals": have == want, "notequals": have != want,
        "gt": have > want, "gte": have >= want, "lt": have < want, "lte": have <= want,
    }
    return bool(tests[operator])


def uuid_predicate(name: str, operator: str, value: Any, column: str) -> Predicate:
    """UUID columns: equality on real UUIDs only; other operators on the 32 hex digits."""

    def hex_digits(device: Device) -> str:
        return str(getattr(device, name)).replace("-", "")

    if operator in ("equals", "notequals"):
        valid = isinstance(value, str) and is_uuid(value)
        wanted = str(value).lower().replace("-", "")
        if operator == "equals":
            return lambda device: valid and hex_digits(device) == wanted
        return lambda device: not valid or hex_digits(device) != wanted
    if isinstance(value, list):
        value = [str(item).replace("-", "") for item in value]
    elif value is not None:
        value = str(value).replace("-", "")
    return text_predicate(hex_digits, operator, value, column)


def user_predicate(operator: str, value: Any, users: dict[str, User]) -> Predicate:
    """``user`` matches the owner's id, name or full name (any of them, whatever the operator)."""

    def owner(device: Device) -> User | None:
        return users.get(device.user_id or "")

    def name(device: Device) -> str | None:
        user = owner(device)
        return user.name if user else None

    def full_name(device: Device) -> str | None:
        user = owner(device)
        return user.full_name if user else None

    tests = [
        uuid_predicate("user_id", operator, value, COLUMN_NAMES["user"]),
        text_predicate(name, operator, value, "user.name"),
        text_predicate(full_name, operator, value, "user.full_name"),
    ]
    return lambda device: owner(device) is not None and any(test(device) for test in tests)


def int_predicate(operator: str, value: Any, model_error: Callable[[str], Exception]) -> Predicate:
    number = 0
    if operator not in ("isnull", "isnotnull"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise model_error("The int filter only works with integer values.") from None
    if operator not in INT_OPS:
        raise FilterError(errors.filter_validation_error([_operation_problem(operator, INT_OPS)]))
    if operator in ("isnull", "isnotnull"):
        return lambda device: operator == "isnotnull"  # the column is never NULL
    return lambda device: _compare(device.failed_auth_attempts, operator, number)


def bool_predicate(operator: str, value: Any) -> Predicate:
    problems = []
    if operator not in BOOL_OPS:
        problems.append(_operation_problem(operator, BOOL_OPS))
    text = str(value).strip().lower() if value is not None else None
    if text is not None and text not in _TRUE | _FALSE:
        message = "The bool filter only works with boolean values."
        problems.append(errors.LineError.of("value", message, value))
    if problems:
        raise FilterError(errors.filter_validation_error(problems))
    if operator in ("isnull", "isnotnull"):
        return lambda device: operator == "isnotnull"
    wanted = text in _TRUE
    return lambda device: _compare(device.trusted_device, operator, wanted)


def datetime_predicate(
    name: str, operator: str, value: Any, model_error: Callable[[str], Exception]
) -> Predicate:
    if operator in ("isnull", "isnotnull"):
        return lambda device: (getattr(device, name) is None) == (operator == "isnull")
    if isinstance(value, list):  # zenml crashes on this (a TypeError in its validator): a 500
        raise RuntimeError("datetime filters cannot take a list")
    try:
        bounds = [
            datetime.strptime(part, DATETIME_FORMAT).replace(tzinfo=timezone.utc)
            for part in str(value).split(",", 1)
        ]
    except ValueError:
        raise model_error(
            f"The datetime filter only works with values in the following format: {DATETIME_FORMAT}"
        ) from None
    if operator == "in" and len(bounds) != 2:
        raise model_error("Two comma separated datetime values are required for the `in` operator.")
    if operator != "in" and len(bounds) != 1:
        raise model_error(f"Only a single datetime value is allowed for operator {operator}.")
    if operator not in DATETIME_OPS:
        raise FilterError(errors.filter_validation_error([_operation_problem(operator, DATETIME_OPS)]))
    if operator == "in":
        low, high = bounds
        return lambda device: (have := getattr(device, name)) is not None and low <= have <= high
    return lambda device: _compare(getattr(device, name), operator, bounds[0])


def check_text_operator(operator: str, *, for_user: bool = False) -> None:
    """``in`` is the one operator text and UUID columns refuse (``user``: at query time, as UUIDFilter)."""
    if operator not in TEXT_OPS:
        problem = _operation_problem(operator, TEXT_OPS)
        if for_user:
            raise FilterError(errors.filter_validation_error([problem], model="UUIDFilter", tagged=True))
        raise FilterError(errors.filter_validation_error([problem]))
