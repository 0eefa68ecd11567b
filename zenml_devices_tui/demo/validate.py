"""Request parsing with pydantic's rules and error dicts, so 422 bodies read like the real ones."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx

_HEX = set("0123456789abcdefABCDEF")
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}
_INTEGRAL_FLOAT = re.compile(r"\s*[+-]?\d+\.0*\s*")


class FieldError(Exception):
    """One pydantic error dict for one field; the caller adds the location and builds the 422."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("msg", ""))
        self.error = error

    def at(self, *loc: str | int) -> dict[str, Any]:
        """The error dict with its location (its own, if it has one), keys in pydantic's order."""
        rest = {key: value for key, value in self.error.items() if key not in ("type", "loc")}
        return {"type": self.error["type"], "loc": self.error.get("loc", loc), **rest}


def _uuid_problem(text: str) -> str | None:
    """Why ``text`` is not a UUID, worded like the ``uuid`` crate that pydantic-core uses."""
    prefix = "urn:uuid:"
    offset = len(prefix) if text.startswith(prefix) else 0
    body = text[offset:]
    if offset == 0 and len(body) == 38 and body[0] == "{" and body[-1] == "}":
        offset, body = 1, body[1:-1]
    for index, char in enumerate(body):
        if char not in _HEX and char != "-":
            return (
                "invalid character: expected an optional prefix of `urn:uuid:` followed by "
                f"[0-9a-fA-F-], found `{char}` at {offset + index + 1}"
            )
    if "-" not in body:
        if len(body) != 32:
            return f"invalid length: expected length 32 for simple format, found {len(body)}"
        return None
    groups = body.split("-")
    if len(groups) != 5:
        return f"invalid group count: expected 5, found {len(groups)}"
    for number, (group, expected) in enumerate(zip(groups, (8, 4, 4, 4, 12)), start=1):
        if len(group) != expected:
            return f"invalid group length in group {number}: expected {expected}, found {len(group)}"
    return None


def parse_uuid(value: Any) -> str:
    """The canonical lower-case form of a UUID string, or :class:`FieldError` (``uuid_parsing``)."""
    if not isinstance(value, str):
        raise FieldError(
            {
                "type": "uuid_type",
                "msg": "UUID input should be a string, bytes or UUID object",
                "input": value,
            }
        )
    problem = _uuid_problem(value)
    if problem is None:
        return str(uuid.UUID(value))
    raise FieldError(
        {
            "type": "uuid_parsing",
            "msg": f"Input should be a valid UUID, {problem}",
            "input": value,
            "ctx": {"error": problem},
        }
    )


def is_uuid(value: str) -> bool:
    return _uuid_problem(value) is None


def parse_bool(value: Any) -> bool:
    """Pydantic's lax bool: true/false, 0/1, and strings like "yes", "off", "t"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise FieldError(
            {
                "type": "bool_parsing",
                "msg": "Input should be a valid boolean, unable to interpret input",
                "input": value,
            }
        )
    raise FieldError({"type": "bool_type", "msg": "Input should be a valid boolean", "input": value})


def parse_int(value: str, *, ge: int | None = None, le: int | None = None) -> int:
    """An integer query parameter with pydantic's parsing and ``ge``/``le`` constraint errors."""
    try:
        number = int(value)
    except ValueError:
        if not _INTEGRAL_FLOAT.fullmatch(value):
            raise FieldError(
                {
                    "type": "int_parsing",
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": value,
                }
            ) from None
        number = int(float(value))
    if ge is not None and number < ge:
        raise FieldError(
            {
                "type": "greater_than_equal",
                "msg": f"Input should be greater than or equal to {ge}",
                "input": value,
                "ctx": {"ge": ge},
            }
        )
    if le is not None and number > le:
        raise FieldError(
            {
                "type": "less_than_equal",
                "msg": f"Input should be less than or equal to {le}",
                "input": value,
                "ctx": {"le": le},
            }
        )
    return number


def form_fields(request: httpx.Request) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body as a dict (first value wins); {} otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    fields: dict[str, str] = {}
    for key, value in parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


MISSING: Any = object()  # an empty request body


def json_body(request: httpx.Request) -> Any:
    """The body as FastAPI reads it before validation: decoded JSON for JSON content types, else raw
    bytes, or :data:`MISSING` when empty. Malformed JSON is a ``json_invalid`` :class:`FieldError`."""
    raw = request.content
    if not raw:
        return MISSING
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    maintype, _, subtype = content_type.partition("/")
    if maintype != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "msg": "JSON decode error", "input": {}, "ctx": {"error": exc.msg}}
        raise FieldError(FieldError(error).at("body", exc.pos)) from None


def model_dict(body: Any) -> dict[str, Any]:
    """``body`` if it is a JSON object, else pydantic's ``missing`` or ``model_attributes_type`` error."""
    if body is MISSING:
        raise FieldError({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    if isinstance(body, dict):
        return body
    raise FieldError(
        {
            "type": "model_attributes_type",
            "loc": ("body",),
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": body,
        }
    )
