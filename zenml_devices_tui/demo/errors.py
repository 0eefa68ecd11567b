"""The error responses of a zenml 0.98.0 server, in its four JSON shapes.

* ``{"detail": [class, message]}``: exceptions raised by handlers and by authentication;
* ``{"detail": "text"}``: FastAPI ``HTTPException`` (missing token, login form errors);
* ``[class, message]`` with no ``detail`` key: 422 request validation;
* ``{"error", "error_description", "error_uri"}``: OAuth errors from ``/api/v1/login``.

Handlers raise :class:`ApiError`; the server turns it into a response with :meth:`ApiError.response`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

PYDANTIC_DOCS = "https://errors.pydantic.dev/2.12/v"


class ApiError(Exception):
    """An error response: status, JSON body and extra headers."""

    def __init__(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        tagged: bool = False,
    ) -> None:
        super().__init__(f"{status} {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.tagged = tagged  # answered with an X-Request-ID header, like http_exception_from_error

    def response(self, request_id: str) -> httpx.Response:
        headers = dict(self.headers)
        if self.tagged:
            headers["X-Request-ID"] = request_id
        return httpx.Response(self.status, json=self.body, headers=headers)


def detail_error(status: int, error_class: str, message: str) -> ApiError:
    """``{"detail": [class, message]}`` as built by ``http_exception_from_error``."""
    return ApiError(status, {"detail": [error_class, message]}, tagged=True)


def key_error(message: str) -> ApiError:
    """404 for a ``KeyError``: ``str(KeyError(msg))`` is ``repr(msg)``, quotes included."""
    return detail_error(404, "KeyError", repr(message))


def value_error(message: str) -> ApiError:
    """400 for a ``ValueError`` raised by a handler."""
    return detail_error(400, "ValueError", message)


def credentials_error(message: str) -> ApiError:
    """401 ``CredentialsNotValid``: the client must drop its token and sign in again."""
    return detail_error(401, "CredentialsNotValid", f"Authentication error: {message}")


def http_exception(status: int, detail: str, headers: dict[str, str] | None = None) -> ApiError:
    """A FastAPI ``HTTPException``: ``{"detail": "text"}``."""
    return ApiError(status, {"detail": detail}, headers)


def not_authenticated() -> ApiError:
    return http_exception(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})


def oauth_error(error: str, description: str) -> ApiError:
    """An OAuth error from the token endpoint (HTTP 400, not wrapped in ``detail``)."""
    return ApiError(400, {"error": error, "error_description": description, "error_uri": None})


def request_validation_error(endpoint: str, *errors: dict[str, Any]) -> ApiError:
    """422 from FastAPI request validation: a bare ``["ValueError", text]`` array.

    ``endpoint`` is "METHOD /path/template"; ``errors`` are pydantic error dicts (type, loc, msg,
    input, and ctx when pydantic has one). The text follows FastAPI's ``ValidationException.__str__``.
    """
    count = len(errors)
    lines = [f"{count} validation error{'s' if count != 1 else ''}:"]
    lines += [f"  {error!r}" for error in errors]
    text = "\n".join(lines) + f"\n\n  Endpoint: {endpoint}"
    return ApiError(422, ["ValueError", text])


@dataclass
class LineError:
    """One pydantic line error of the list's filter model (``field`` None: a model-level error)."""

    field: str | None
    message: str
    input_repr: str
    input_type: str

    @classmethod
    def of(cls, field: str | None, message: str, value: Any) -> LineError:
        return cls(field, message, repr(value), type(value).__name__)


def filter_validation_error(
    lines: list[LineError], model: str = "OAuthDeviceFilter", *, tagged: bool = False
) -> ApiError:
    """422 from building the list's filter model: ``{"detail": ["ValueError", pydantic's text]}``."""
    count = len(lines)
    text = f"{count} validation error{'s' if count != 1 else ''} for {model}"
    for line in lines:
        shown = line.input_repr
        if len(shown) > 50:  # pydantic shortens long inputs the same way
            shown = f"{shown[:25]}...{shown[-24:]}"
        location = f"\n{line.field}" if line.field else ""
        text += (
            f"{location}\n  Value error, {line.message} [type=value_error, input_value={shown}, "
            f"input_type={line.input_type}]\n    For further information visit {PYDANTIC_DOCS}/value_error"
        )
    return ApiError(422, {"detail": ["ValueError", text]}, tagged=tagged)


def missing(loc: tuple[str, ...], input_value: Any = None) -> dict[str, Any]:
    """A pydantic ``missing`` error dict."""
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": input_value}
