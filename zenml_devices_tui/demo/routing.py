"""Method + path routing with FastAPI's answers for unknown paths (404) and wrong methods (405)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol

import httpx

from zenml_devices_tui.demo import errors
from zenml_devices_tui.demo.auth import AuthContext, Authenticator
from zenml_devices_tui.demo.records import User
from zenml_devices_tui.demo.store import DeviceStore, Settings


class Backend(Protocol):
    """What the endpoints need from the server."""

    store: DeviceStore
    auth: Authenticator
    settings: Settings
    server_id: str
    approver: User

    def on_device_list(self, now: datetime) -> None: ...


@dataclass
class Call:
    """One request on its way through an endpoint."""

    request: httpx.Request
    path_params: dict[str, str]
    now: datetime
    backend: Backend

    def authenticate(self) -> AuthContext:
        return self.backend.auth.authenticate(self.request, self.now)

    def query_items(self) -> list[tuple[str, str]]:
        return list(self.request.url.params.multi_items())

    def query(self, name: str) -> str | None:
        """The last value of a query parameter, as FastAPI reads scalar parameters."""
        values = self.request.url.params.get_list(name)
        return values[-1] if values else None


Handler = Callable[[Call], httpx.Response]


@dataclass(frozen=True)
class Route:
    method: str  # "*" for any method
    template: str  # e.g. "/api/v1/devices/{device_id}"; "{rest:path}" also matches slashes
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        def group(match: re.Match[str]) -> str:
            return f"(?P<{match[1]}>{'.*' if match[2] else '[^/]+'})"

        return re.compile("^" + re.sub(r"\{(\w+)(:path)?\}", group, self.template) + "$")


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self._routes = [(route, route.pattern) for route in routes]

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters; 404 or 405 (with ``Allow``) as FastAPI answers them."""
        allowed: list[str] = []
        for route, pattern in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route.method in ("*", method):
                return route, match.groupdict()
            allowed.append(route.method)
        if allowed:
            # Starlette reports the methods of the first route whose path matched.
            raise errors.http_exception(405, "Method Not Allowed", {"Allow": allowed[0]})
        raise errors.http_exception(404, "Not Found")
