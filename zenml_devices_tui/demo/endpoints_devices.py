"""``/api/v1/devices``: list, get, lock/unlock, verify and delete, always scoped to the caller.

FastAPI checks things in a fixed order, and so do these handlers: the list's filter model (sort and
filter values) first, then the token, then the remaining parameters and the body.
"""

from __future__ import annotations

from typing import Any

import httpx

from zenml_devices_tui.demo import errors
from zenml_devices_tui.demo.query import build_query, paginate, sort_devices
from zenml_devices_tui.demo.records import Device
from zenml_devices_tui.demo.routing import Call
from zenml_devices_tui.demo.serialize import device_json, page_json
from zenml_devices_tui.demo.validate import (
    FieldError,
    json_body,
    model_dict,
    parse_bool,
    parse_int,
    parse_uuid,
)

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAXIMUM = 10_000
LIST_ENDPOINT = "GET /api/v1/devices"
ITEM_PATH = "/api/v1/devices/{device_id}"


def _query_value(call: Call, name: str, found: list[dict[str, Any]], parse: Any) -> Any:
    """Parse one query parameter, collecting its pydantic error instead of raising it."""
    raw = call.query(name)
    if raw is None:
        return None
    try:
        return parse(raw)
    except FieldError as exc:
        found.append(exc.at("query", name))
        return None


def _path_device_id(call: Call, found: list[dict[str, Any]]) -> str:
    try:
        return parse_uuid(call.path_params["device_id"])
    except FieldError as exc:
        found.append(exc.at("path", "device_id"))
        return ""


def _read_body(call: Call, endpoint: str) -> Any:
    """FastAPI reads the body before anything else: malformed JSON is a 422 even without a token."""
    try:
        return json_body(call.request)
    except FieldError as exc:
        raise errors.request_validation_error(endpoint, exc.at("body")) from None


def _render(call: Call, device: Device, *, hydrate: bool) -> httpx.Response:
    owner = call.backend.store.users.get(device.user_id or "")
    return httpx.Response(200, json=device_json(device, owner, hydrate=hydrate))


def list_devices(call: Call) -> httpx.Response:
    found: list[dict[str, Any]] = []
    page = _query_value(call, "page", found, lambda raw: parse_int(raw, ge=1))
    size = _query_value(call, "size", found, lambda raw: parse_int(raw, ge=1, le=PAGE_SIZE_MAXIMUM))
    logical_operator = _query_value(call, "logical_operator", found, _logical_operator)
    _query_value(call, "scope_user", found, parse_uuid)  # validated, then overwritten by the server
    query = None
    if not found:  # the filter model is only built when its own parameters are valid
        users = call.backend.store.users
        query = build_query(call.query_items(), logical_operator or "and", users)
    context = call.authenticate()
    hydrate = _query_value(call, "hydrate", found, parse_bool)
    if found or query is None:
        raise errors.request_validation_error(LIST_ENDPOINT, *found)
    if query.deferred is not None:
        raise query.deferred
    call.backend.on_device_list(call.now)
    store = call.backend.store
    mine = [d for d in store.devices.values() if d.user_id == context.user.id and query.matches(d)]
    page, size = page or 1, size or PAGE_SIZE_DEFAULT
    offset, total_pages = paginate(len(mine), page, size)
    ordered = sort_devices(mine, query, store.users)
    items = [
        device_json(device, store.users.get(device.user_id or ""), hydrate=bool(hydrate))
        for device in ordered[offset : offset + size]
    ]
    body = page_json(items, index=page, size=size, total=len(mine), pages=total_pages)
    return httpx.Response(200, json=body)


def _logical_operator(raw: str) -> str:
    if raw in ("and", "or"):
        return raw
    raise FieldError(
        {
            "type": "enum",
            "msg": "Input should be 'or' or 'and'",
            "input": raw,
            "ctx": {"expected": "'or' or 'and'"},
        }
    )


def get_device(call: Call) -> httpx.Response:
    context = call.authenticate()
    found: list[dict[str, Any]] = []
    device_id = _path_device_id(call, found)
    user_code = call.query("user_code")
    hydrate = _query_value(call, "hydrate", found, parse_bool)
    if found:
        raise errors.request_validation_error(f"GET {ITEM_PATH}", *found)
    device = call.backend.store.get_device(device_id)
    visible = device.user_id == context.user.id or (
        device.user_id is None and bool(user_code) and user_code == device.user_code
    )
    if not visible:
        raise errors.key_error(f"Unable to get device with ID {device_id}: No device with this ID found.")
    return _render(call, device, hydrate=True if hydrate is None else hydrate)


def update_device(call: Call) -> httpx.Response:
    """``{"locked": true|false}``; unknown fields are ignored and ``{}`` changes nothing but ``updated``."""
    raw_body = _read_body(call, f"PUT {ITEM_PATH}")
    context = call.authenticate()
    found: list[dict[str, Any]] = []
    device_id = _path_device_id(call, found)
    locked: bool | None = None
    try:
        body = model_dict(raw_body)
        if body.get("locked") is not None:
            locked = parse_bool(body["locked"])
    except FieldError as exc:
        found.append(exc.at("body", "locked"))
    if found:
        raise errors.request_validation_error(f"PUT {ITEM_PATH}", *found)
    store = call.backend.store
    device = store.owned_device(device_id, context.user)
    store.set_locked(device, locked, call.now)
    return _render(call, device, hydrate=True)


def verify_device(call: Call) -> httpx.Response:
    """The dashboard's approval: ``{"user_code": str, "trusted_device": bool = false}``."""
    raw_body = _read_body(call, f"PUT {ITEM_PATH}/verify")
    context = call.authenticate()
    found: list[dict[str, Any]] = []
    device_id = _path_device_id(call, found)
    user_code, trusted = "", False
    try:
        body = model_dict(raw_body)
        if "user_code" not in body:
            found.append(errors.missing(("body", "user_code"), body))
        elif not isinstance(body["user_code"], str):
            not_text = FieldError(
                {"type": "string_type", "msg": "Input should be a valid string", "input": body["user_code"]}
            )
            found.append(not_text.at("body", "user_code"))
        else:
            user_code = body["user_code"]
        trusted = parse_bool(body.get("trusted_device", False))
    except FieldError as exc:
        found.append(exc.at("body", "trusted_device"))
    if found:
        raise errors.request_validation_error(f"PUT {ITEM_PATH}/verify", *found)
    device = call.backend.store.verify(device_id, context.user, user_code, trusted, call.now)
    return _render(call, device, hydrate=True)


def delete_device(call: Call) -> httpx.Response:
    context = call.authenticate()
    found: list[dict[str, Any]] = []
    device_id = _path_device_id(call, found)
    if found:
        raise errors.request_validation_error(f"DELETE {ITEM_PATH}", *found)
    store = call.backend.store
    store.delete(store.owned_device(device_id, context.user))
    return httpx.Response(200, content=b"null", headers={"content-type": "application/json"})
