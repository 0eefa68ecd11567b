"""An in-process fake of a zenml 0.98.0 server, served through ``httpx.MockTransport`` (no sockets).

It speaks the real wire format for everything zenml-devices uses, errors included, so the same
contract tests pass against it and against a real server::

    demo = DemoServer()
    client = httpx.Client(transport=demo.transport, base_url=demo.base_url)

Time comes from ``clock`` (an aware UTC ``datetime`` factory) everywhere, so tests drive the device flow,
expiry and the "live" changes by moving a fake clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from zenml_devices_tui.demo import endpoints_auth as auth_api
from zenml_devices_tui.demo import endpoints_devices as devices_api
from zenml_devices_tui.demo.auth import Authenticator
from zenml_devices_tui.demo.errors import ApiError
from zenml_devices_tui.demo.live import LiveActivity
from zenml_devices_tui.demo.records import Clock, Device, User, random_uuid
from zenml_devices_tui.demo.routing import Call, Route, Router
from zenml_devices_tui.demo.seed import generated_fleet, seed_fleet
from zenml_devices_tui.demo.store import DeviceStore, Settings, UserAgentDetails

ROUTES = [
    Route("*", "/health", auth_api.health),
    Route("GET", "/api/v1/info", auth_api.info),
    Route("GET", "/api/v1/version", auth_api.version),
    Route("POST", "/api/v1/device_authorization", auth_api.device_authorization),
    Route("POST", "/api/v1/login", auth_api.login),
    Route("GET", "/api/v1/current-user", auth_api.current_user),
    Route("GET", "/api/v1/devices", devices_api.list_devices),
    Route("GET", "/api/v1/devices/{device_id}", devices_api.get_device),
    Route("PUT", "/api/v1/devices/{device_id}", devices_api.update_device),
    Route("DELETE", "/api/v1/devices/{device_id}", devices_api.delete_device),
    Route("PUT", "/api/v1/devices/{device_id}/verify", devices_api.verify_device),
    Route("GET", "/api/{rest:path}", auth_api.unknown_api_path),
    Route("GET", "/{rest:path}", auth_api.dashboard),
]
_DEFAULT_BODY: Any = object()
DEMO_USER_AGENT = "Host/this-laptop ZenML/0.98.0 Python/3.12.4 OS/Linux"
OTHER_USER_PASSWORD = "grace-pass"  # the seeded second user, "grace"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Fault:
    status: int
    body: Any
    headers: dict[str, str]
    count: int
    path_contains: str | None
    disconnect: bool = False

    def matches(self, request: httpx.Request) -> bool:
        return self.path_contains is None or self.path_contains in request.url.path


def _default_fault_body(status: int, request_id: str) -> Any:
    """What the real server sends with that status when nothing more specific applies."""
    if status == 401:
        return {"detail": ["CredentialsNotValid", "Authentication error: injected failure"]}
    if status == 429:
        return {"detail": "Minute request limit exceeded."}
    if status >= 500:
        return {"detail": "An unexpected error occurred.", "request_id": request_id}
    return {"detail": "Injected failure"}


class DemoServer:
    """The fake server. See the module docstring; the public attributes are documented inline."""

    base_url = "http://demo.zenml.local"

    def __init__(
        self,
        clock: Clock | None = None,
        seed: bool = True,
        auto_approve_after: float | None = 3.0,
        live: bool = True,
        device_count: int | None = None,
        admin_password: str = "demo-pass",
        rng_seed: int = 0,
        device_auth_timeout: int = 300,
        polling_interval: int = 5,
        device_expiration_minutes: int | None = None,
        trusted_device_expiration_minutes: int | None = None,
    ) -> None:
        """Build the server and its data.

        ``clock``: returns an aware UTC ``datetime``; every time rule uses it (default: real time).
        ``seed``: add the hand-written fleet (~25 devices of the demo user "ada", 2 of "grace", 1 unclaimed).
        ``device_count``: instead, exactly that many generated devices of the demo user (benchmarks).
        ``auto_approve_after``: seconds after ``/device_authorization`` at which a pending request
        approves itself, as if the user clicked in the dashboard; None = only through the API.
        ``live``: small changes over time on ``GET /devices`` (see :mod:`.live`); False = static.
        ``rng_seed``: all ids, codes and data are drawn from it, so runs repeat exactly.
        The other arguments are the server settings of the same name (zenml defaults).
        """
        self._clock = clock or _utc_now
        self.live = live
        self.admin_password = admin_password  # the demo user's password, for password logins in tests
        self.request_count = 0  # requests handled, faults included
        self._faults: list[_Fault] = []
        self._seen: dict[str, tuple[tuple[object, ...], datetime]] = {}
        self._last_request_time: datetime | None = None
        self._router = Router(ROUTES)
        self._lock = threading.RLock()  # clients in worker threads may call in at the same time
        now = self.now()
        seed_rng = random.Random(rng_seed)
        self.server_id = random_uuid(seed_rng)
        self.settings = Settings(
            device_auth_timeout=device_auth_timeout,
            polling_interval=polling_interval,
            device_expiration_minutes=device_expiration_minutes,
            trusted_device_expiration_minutes=trusted_device_expiration_minutes,
            auto_approve_after=auto_approve_after,
        )
        self.store = DeviceStore(self.settings, random.Random(f"requests-{rng_seed}"))
        secret = hashlib.sha256(f"zenml-devices-demo-secret-{rng_seed}".encode()).digest()
        self.auth = Authenticator(self.store, self.server_id, secret)
        self.approver = self._add_user(seed_rng, now, "ada", "Ada Lovelace", admin_password, is_admin=True)
        for device in self._fleet(seed_rng, now, seed, device_count):
            self.store.add_device(device)
        self.live_activity = LiveActivity(
            self.store, self.approver, random.Random(f"live-{rng_seed}"), now,
            first_new_index=max(900, (device_count or 0) + 1),
        )
        self.transport = httpx.MockTransport(self.handle)

    def _fleet(self, rng: random.Random, now: datetime, seed: bool, device_count: int | None) -> list[Device]:
        if device_count is not None:
            return generated_fleet(rng, now, self.approver, device_count)
        if not seed:
            return []
        other = self._add_user(rng, now, "grace", "Grace Hopper", OTHER_USER_PASSWORD, is_admin=False)
        return seed_fleet(rng, now, self.approver, other)

    # -- public conveniences -----------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self.approver.id

    @property
    def user_name(self) -> str:
        return self.approver.name

    @property
    def devices(self) -> dict[str, Device]:
        """Every device record by id (all users'), live: tests may read and change them."""
        return self.store.devices

    def now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def tick(self) -> None:
        """Apply one step of live changes now (a login on a random active device; sometimes a new one)."""
        self.live_activity.tick(self.now())

    def add_user(self, name: str, password: str, *, full_name: str = "", is_admin: bool = False) -> str:
        """Create another user (to test that lists and lookups are scoped); returns the user id."""
        return self._add_user(self.store.rng, self.now(), name, full_name, password, is_admin=is_admin).id

    def password_token(self, name: str | None = None) -> str:
        """An access token for a user (the demo user by default), as a password login returns it."""
        user = self.store.user_by_name_or_id(name or self.approver.name)
        if user is None:
            raise KeyError(name)
        return str(self.auth.token_response(user, self.now())["access_token"])

    def device_token(
        self, client_id: str | None = None, user_agent: str = DEMO_USER_AGENT, trusted: bool = False
    ) -> tuple[str, str]:
        """Run the whole device flow for the demo user at once; returns (device id, access token)."""
        now = self.now()
        client_id = client_id or random_uuid(self.store.rng)
        device = self.store.authorize(client_id, UserAgentDetails.decode(user_agent), auth_api.CLIENT_IP, now)
        self.store.verify(device.id, self.approver, device.user_code, trusted, now)
        self.store.exchange_code(client_id, device.device_code, now)
        return device.id, str(self.auth.token_response(self.approver, now, device)["access_token"])

    def fail_next(
        self,
        status: int,
        body: Any = _DEFAULT_BODY,
        count: int = 1,
        path_contains: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``count`` matching requests get this response instead of being handled.

        ``body`` is sent as JSON (``str``/``bytes`` as they are); by default it is what the real server
        sends with that status (e.g. 500 → "An unexpected error occurred.", 429 → rate limit).
        """
        self._faults.append(_Fault(status, body, dict(headers or {}), count, path_contains))

    def disconnect_next(self, count: int = 1, path_contains: str | None = None) -> None:
        """The next ``count`` matching requests raise ``httpx.ConnectError``, as if the server were down."""
        self._faults.append(_Fault(0, None, {}, count, path_contains, disconnect=True))

    # -- request handling --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request. Never raises (except for faults injected with :meth:`disconnect_next`)."""
        with self._lock:
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.request_count += 1
        request_id = request.headers.get("x-request-id") or f"{self.request_count:08x}"
        try:
            fault = self._take_fault(request)
            if fault is not None:
                return self._fault_response(fault, request, request_id)
            previous = self._last_request_time
            now = self._request_time()
            self._stamp_outside_changes(now, previous)
            try:
                self.store.approve_due(now, self.approver)
                route, params = self._router.resolve(request.method, request.url.path)
                return route.handler(Call(request, params, now, self))
            finally:
                self._remember_records()
        except ApiError as error:
            return error.response(request_id)
        except httpx.ConnectError:
            raise
        except Exception:  # noqa: BLE001 - like the server's middleware: any bug becomes a 500
            body = {"detail": "An unexpected error occurred.", "request_id": request_id}
            return httpx.Response(500, json=body)

    def _request_time(self) -> datetime:
        """The clock's time, moved on by a microsecond if a request already had it: on the real server
        time passes between two requests, so two changes never share an ``updated`` (clients rely on
        it, core/sync.py), and a test's frozen clock must not make them."""
        now = self.now()
        last = self._last_request_time
        if last is not None and now <= last:
            now = last + timedelta(microseconds=1)
        self._last_request_time = now
        return now

    def _stamp_outside_changes(self, now: datetime, previous: datetime | None) -> None:
        """Tests change ``devices`` records directly ("locked in the dashboard"). The real server bumps
        ``updated`` on every change it makes, and clients rely on it (core/sync.py): give a record that
        changed behind the server's back a fresh ``updated`` too, unless the test gave it one newer than the
        last request (a change stamped earlier would have been seen by that request). ``expires`` is left
        out: setting it in the past stands for time passing, which changes nothing on the real server."""
        seen = self._seen
        for device in self.store.devices.values():
            before = seen.get(device.id)
            if before is not None and before[0] != _fingerprint(device) and (
                before[1] == device.updated or (previous is not None and device.updated <= previous)
            ):
                device.updated = now

    def _remember_records(self) -> None:
        """What every record looked like when the last request was answered."""
        self._seen = {device.id: (_fingerprint(device), device.updated) for device in self.store.devices.values()}

    def on_device_list(self, now: datetime) -> None:
        if self.live:
            self.live_activity.catch_up(now)

    def _take_fault(self, request: httpx.Request) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(request):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: _Fault, request: httpx.Request, request_id: str) -> httpx.Response:
        if fault.disconnect:
            raise httpx.ConnectError("demo server: connection refused (injected)", request=request)
        body = _default_fault_body(fault.status, request_id) if fault.body is _DEFAULT_BODY else fault.body
        if isinstance(body, bytes):
            return httpx.Response(fault.status, content=body, headers=fault.headers)
        if isinstance(body, str):
            return httpx.Response(fault.status, text=body, headers=fault.headers)
        return httpx.Response(fault.status, json=body, headers=fault.headers)

    def _add_user(
        self, rng: random.Random, now: datetime, name: str, full_name: str, password: str, *, is_admin: bool
    ) -> User:
        created = now - timedelta(days=400, microseconds=rng.randrange(1_000_000))
        user = User(
            id=random_uuid(rng),
            name=name,
            password=password,
            created=created,
            updated=created + timedelta(microseconds=17),
            full_name=full_name,
            is_admin=is_admin,
            password_changed_at=created,
        )
        self.store.users[user.id] = user
        return user


def _fingerprint(device: Device) -> tuple[object, ...]:
    """Every column a change through the server would stamp with a new ``updated`` (not ``expires``)."""
    return (
        device.status, device.user_id, device.trusted_device, device.failed_auth_attempts, device.last_login,
        device.os, device.ip_address, device.hostname, device.python_version, device.zenml_version,
        device.city, device.region, device.country, device.client_id,
    )
