"""Typed errors for everything that can go wrong talking to a ZenML server.

Every error carries ``message``: one line, in words, fit to show a user as it is.
``parse_error_body`` understands the server's error shapes:

* OAuth: ``{"error": code, "error_description": text}`` (from ``/api/v1/login``);
* ``{"detail": [class, message, ...]}`` (most handlers);
* ``{"detail": "text"}`` (FastAPI HTTPExceptions, the rate limiter);
* a bare ``[class, message, ...]`` array (422 request validation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from zenml_devices_tui.core.text import clean_line


class ZenMLError(Exception):
    """Base class. ``message`` is a one-line, human-readable sentence."""

    default_message = "The ZenML server request failed."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        detail: str | None = None,
        error_class: str | None = None,
    ) -> None:
        self.message = clean_line(message or self.default_message, limit=300)
        self.status = status
        self.detail = clean_line(detail, limit=500) if detail else None
        self.error_class = clean_line(error_class, limit=80) if error_class else None
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NotAuthenticated(ZenMLError):
    """401: the token is missing, invalid, expired, or its device is locked or gone."""

    default_message = (
        "Not signed in: this session was locked, deleted or expired on the server. Sign in again."
    )


class NotAllowed(ZenMLError):
    """403: signed in, but not allowed to do this."""

    default_message = "The server does not allow this."


class DeviceAuthNotSupported(NotAllowed):
    """403 "Device authorization is not supported." (auth scheme NO_AUTH or EXTERNAL)."""

    default_message = (
        "This server does not support device login (its auth scheme is not OAUTH2_PASSWORD_BEARER)."
    )


class NotFound(ZenMLError):
    """404: missing, or belongs to someone else."""

    default_message = "Not found: the device is gone or belongs to another user."


class RateLimited(ZenMLError):
    """429: the server asks us to slow down."""

    default_message = "The server is rate limiting requests."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ZenMLError):
    """5xx."""

    default_message = "The server had an internal error."


class RequestRejected(ZenMLError):
    """Any other 4xx (400, 409, 422, ...): the server refused the request as sent."""

    default_message = "The server refused the request."


class Unreachable(ZenMLError):
    """The server could not be reached (DNS, connection refused, TLS, dropped connection)."""

    default_message = "The server could not be reached."


class Timeout(Unreachable):
    """No answer in time."""

    default_message = "The server did not answer in time."


class BadResponse(ZenMLError):
    """The answer was not JSON, or not of the expected shape."""

    default_message = "The server sent a response this app does not understand."


class OAuthError(ZenMLError):
    """An RFC 6749/8628 error from the token endpoint: ``{"error": code, ...}``."""

    def __init__(self, code: str, description: str | None = None, *, status: int | None = 400) -> None:
        self.code = clean_line(code, limit=80)
        self.description = clean_line(description, limit=300) if description else None
        message = self.description or self.code
        super().__init__(message, status=status, error_class=self.code)


class BadConfiguration(ZenMLError):
    """Local input is wrong: a bad URL, a missing CA file, ..."""

    default_message = "The configuration is not valid."


@dataclass(frozen=True)
class ParsedError:
    """What an error body says: the exception class (if any) and the message."""

    error_class: str | None
    message: str | None
    oauth_error: str | None = None


def parse_error_body(body: Any) -> ParsedError:
    """Read any of the server's error shapes from an already decoded JSON body."""
    if isinstance(body, list):
        return _from_list(body)
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):
            return _from_list(detail)
        if isinstance(detail, str):
            return ParsedError(None, detail)
        error = body.get("error")
        if isinstance(error, str):
            desc = body.get("error_description")
            return ParsedError(None, desc if isinstance(desc, str) else None, oauth_error=error)
        if detail is not None:
            return ParsedError(None, _short_json(detail))
    if isinstance(body, str) and body.strip():
        return ParsedError(None, body)
    return ParsedError(None, None)


def _from_list(items: list[Any]) -> ParsedError:
    if not items:
        return ParsedError(None, None)
    if len(items) == 1:
        return ParsedError(None, _as_text(items[0]))
    cls = items[0] if isinstance(items[0], str) else None
    rest = [_as_text(x) for x in items[1:]]
    message = ": ".join(x for x in rest if x)
    return ParsedError(cls, _strip_key_error_quotes(message) or None)


def _as_text(x: Any) -> str:
    return x if isinstance(x, str) else _short_json(x)


def _short_json(x: Any) -> str:
    try:
        return json.dumps(x)[:300]
    except (TypeError, ValueError):
        return repr(x)[:300]


def _strip_key_error_quotes(message: str) -> str:
    # str(KeyError("x")) is "'x'": the server passes those quotes on.
    if len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
        return message[1:-1]
    return message


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, 3600.0))


def error_for_status(status: int, body: Any, *, retry_after: str | None = None) -> ZenMLError:
    """Turn a non-2xx answer into the matching typed error."""
    parsed = parse_error_body(body)
    detail = parsed.message
    if parsed.oauth_error:
        return OAuthError(parsed.oauth_error, parsed.message, status=status)
    kw: dict[str, Any] = {"status": status, "detail": detail, "error_class": parsed.error_class}
    if status == 401:
        return NotAuthenticated(**kw)
    if status == 403:
        if detail and "device authorization is not supported" in detail.lower():
            return DeviceAuthNotSupported(**kw)
        return NotAllowed(f"The server does not allow this: {detail}" if detail else None, **kw)
    if status == 404:
        return NotFound(**kw)
    if status == 429:
        delay = parse_retry_after(retry_after)
        msg = "The server is rate limiting requests"
        msg += f"; retrying in {delay:.0f} s." if delay is not None else "."
        return RateLimited(msg, retry_after=delay, **kw)
    if status >= 500:
        return ServerError(f"The server had an internal error (HTTP {status}).", **kw)
    if detail:
        return RequestRejected(f"The server refused the request: {detail}", **kw)
    return RequestRejected(f"The server refused the request (HTTP {status}).", **kw)
