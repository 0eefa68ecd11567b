"""The async HTTP client for a ZenML server's device-login and device API.

One :class:`ZenMLClient` (and so one ``httpx.AsyncClient``) per app run. Every
failure comes out as a :class:`~zenml_devices_tui.core.errors.ZenMLError`
subclass with a one-line message; nothing else escapes.
"""

from __future__ import annotations

import json
import ssl
from datetime import datetime, timezone
from typing import Any, Mapping

import httpx

from zenml_devices_tui.core.errors import (
    BadConfiguration,
    BadResponse,
    NotAuthenticated,
    Timeout,
    Unreachable,
    error_for_status,
)
from zenml_devices_tui.core.models import (
    Device,
    DeviceAuthorization,
    Page,
    ServerInfo,
    TokenResponse,
    User,
)
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.urls import normalize_server_url

API = "/api/v1"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

#: Largest response body this client reads (a server sending more is broken or hostile).
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Devices per page when listing; the server allows up to 10,000.
DEFAULT_PAGE_SIZE = 1000
#: Never follow more pages than this, whatever ``total_pages`` claims.
MAX_PAGES = 200
#: How the device list's datetime filters want their values (``updated=gte:2026-12-03 15:53:10``), in UTC.
FILTER_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def filter_datetime(when: datetime) -> str:
    """``when`` as a list filter value: UTC, floored to the second (the filter takes no fraction)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime(FILTER_DATETIME_FORMAT)


def default_timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


class ZenMLClient:
    """Talks to one ZenML server. ``token`` is the bearer token for authenticated calls."""

    def __init__(
        self,
        base_url: str,
        *,
        token: Secret | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        user_agent: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.base_url = normalize_server_url(base_url)
        self.token = token
        self.page_size = max(1, min(int(page_size), 10_000))
        self.request_count = 0
        #: The ``total`` the server gave on the first page of the last :meth:`list_devices`.
        self.last_list_total: int | None = None
        self._user_agent = user_agent or "zenml-devices"
        verify_arg: bool | ssl.SSLContext = True
        if verify is False:
            verify_arg = False
        elif isinstance(verify, str):
            try:
                verify_arg = ssl.create_default_context(cafile=verify)
            except (OSError, ssl.SSLError) as exc:
                raise BadConfiguration(f"Cannot use the CA bundle {verify!r}: {exc}") from None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            verify=verify_arg,
            timeout=default_timeout(timeout),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": self._user_agent},
            trust_env=transport is None,
        )

    # ------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "ZenMLClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"ZenMLClient({self.base_url!r}, token={'set' if self.token else 'none'})"

    # ------------------------------------------------------------ server

    async def info(self) -> ServerInfo:
        return ServerInfo.from_json(await self._request("GET", f"{API}/info", auth=False))

    async def current_user(self) -> User:
        return User.from_json(await self._request("GET", f"{API}/current-user"))

    # ------------------------------------------------------------ devices

    async def list_devices(self, *, updated_since: datetime | None = None) -> list[Device]:
        """Every device of the signed-in user, hydrated, newest first.

        ``updated_since``: only the devices whose ``updated`` is at or after it (to the second).
        """
        devices: list[Device] = []
        seen: set[str] = set()
        page_number = 1
        while True:
            page = await self.list_devices_page(
                page=page_number,
                size=self.page_size,
                sort_by="desc:created",
                updated_since=updated_since,
            )
            if page_number == 1:
                self.last_list_total = page.total
            added = 0
            for item in page.items:
                device = Device.from_json(item)
                if device.id not in seen:  # a device created between two pages can repeat
                    seen.add(device.id)
                    devices.append(device)
                    added += 1
            # A page with nothing new ends the walk too: a server whose total_pages lies and
            # repeats itself would otherwise cost MAX_PAGES requests on every refresh.
            if not added or page_number >= page.total_pages or page_number >= MAX_PAGES:
                break
            page_number += 1
        return devices

    async def list_devices_page(
        self,
        *,
        page: int = 1,
        size: int = 2,
        sort_by: str = "desc:updated",
        updated_since: datetime | None = None,
    ) -> Page:
        """One page of the device list, hydrated, items left as JSON (the caller parses what it needs).

        The default is the change probe: the two most recently updated devices and the total.
        """
        params: dict[str, Any] = {"hydrate": "true", "page": page, "size": size, "sort_by": sort_by}
        if updated_since is not None:
            params["updated"] = "gte:" + filter_datetime(updated_since)
        return Page.from_json(await self._request("GET", f"{API}/devices", params=params))

    async def get_device(self, device_id: str) -> Device:
        data = await self._request("GET", f"{API}/devices/{_path_id(device_id)}", params={"hydrate": "true"})
        return Device.from_json(data)

    async def lock_device(self, device_id: str) -> Device:
        return await self._set_locked(device_id, True)

    async def unlock_device(self, device_id: str) -> Device:
        return await self._set_locked(device_id, False)

    async def _set_locked(self, device_id: str, locked: bool) -> Device:
        data = await self._request("PUT", f"{API}/devices/{_path_id(device_id)}", json_body={"locked": locked})
        return Device.from_json(data)

    async def delete_device(self, device_id: str) -> None:
        await self._request("DELETE", f"{API}/devices/{_path_id(device_id)}")

    # ------------------------------------------------------------ device login

    async def start_device_authorization(self, client_id: str, user_agent: str) -> DeviceAuthorization:
        data = await self._request(
            "POST",
            f"{API}/device_authorization",
            form={"client_id": client_id},
            headers={"User-Agent": user_agent},
            auth=False,
        )
        return DeviceAuthorization.from_json(data)

    async def poll_device_token(self, client_id: str, device_code: Secret) -> TokenResponse:
        data = await self._request(
            "POST",
            f"{API}/login",
            form=_SecretForm(
                grant_type=DEVICE_CODE_GRANT,
                client_id=client_id,
                device_code=device_code.reveal(),
            ),
            auth=False,
        )
        return TokenResponse.from_json(data)

    # ------------------------------------------------------------ plumbing

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        if auth and not self.token:
            raise NotAuthenticated("Not signed in.")
        self.request_count += 1
        try:
            # httpx.Headers, not a dict: its repr hides Authorization (tracebacks print local variables).
            request_headers = httpx.Headers(headers or {})
            if auth and self.token:
                request_headers["Authorization"] = f"Bearer {self.token.reveal()}"
            async with self._http.stream(
                method,
                path,
                params=params,
                data=form,
                json=json_body,
                headers=request_headers,
            ) as response:
                raw = await _read_capped(response)
        except httpx.TimeoutException:
            raise Timeout(f"{self.base_url} did not answer in time.") from None
        except httpx.DecodingError:
            raise BadResponse("The server sent a response that could not be decoded (bad compression).") from None
        except UnicodeEncodeError:
            raise BadConfiguration("A request header contains characters that cannot be sent (ASCII only).") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"Cannot reach {self.base_url}: {_transport_reason(exc)}") from None
        except httpx.InvalidURL:
            raise BadConfiguration(f"The server URL {self.base_url!r} is not valid.") from None
        return _decode(response, raw, self.token)


class _SecretForm(dict):  # type: ignore[type-arg]
    """Form fields whose repr hides the values (the device code), for tracebacks that print locals."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key!r}: '***'" for key in self) + "}"


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadResponse("The server sent a response that is far too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(response: httpx.Response, raw: bytes, token: Secret | None = None) -> Any:
    status = response.status_code
    if token and raw and not 200 <= status < 300:
        # A server that quotes our token back in an error must not get it shown or logged.
        raw = raw.replace(token.reveal().encode("utf-8"), b"***")
    body: Any = None
    parsed = False
    if raw:
        try:
            body = json.loads(raw)
            parsed = True
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
    if 200 <= status < 300:
        if raw and not parsed:
            raise BadResponse(f"The server answered with something that is not JSON (HTTP {status}).", status=status)
        return body
    if 300 <= status < 400:
        where = response.headers.get("location", "")
        raise BadResponse(
            f"The server redirected (HTTP {status}) instead of answering; check the URL"
            + (f" (it points to {where[:120]})." if where else "."),
            status=status,
        )
    if not parsed and raw:
        body = raw[:300].decode("utf-8", "replace")
    raise error_for_status(status, body, retry_after=response.headers.get("retry-after"))


def _path_id(device_id: str) -> str:
    # Ids go into a path: allow only what a UUID can contain so nothing can escape it.
    cleaned = "".join(ch for ch in str(device_id) if ch.isalnum() or ch == "-")
    if not cleaned:
        raise BadConfiguration("A device id is empty.")
    return cleaned


def _transport_reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    # httpx says "All connection attempts failed"; the OS's reason is further down the cause chain.
    chain: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 8:
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    lower = " | ".join(chain).lower()
    if "certificate" in lower or "ssl" in lower:
        return "TLS certificate check failed (use --ca-cert, or --insecure if you trust this network)."
    if "connection refused" in lower or "errno 111" in lower:
        return "connection refused (is the server running?)."
    if "name or service not known" in lower or "nodename nor servname" in lower or "getaddrinfo" in lower:
        return "the host name could not be resolved."
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed before the server answered."
    return text.splitlines()[0][:160]
