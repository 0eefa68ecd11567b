"""One handle for the two servers the tests run against: the in-process demo and the real one.

``ServerHandle`` hides the difference: the demo is reached through its
``httpx.MockTransport``, the real server over TCP. The helpers speak plain httpx
(never the project's client) and return raw ``httpx.Response`` objects where a test
wants to look at status codes and bodies.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tests.realserver import (
    DEVICE_GRANT,
    ZENML_USER_AGENT,
    DeviceLogin,
    RealServer,
    device_id_from_uri,
)

Kind = Literal["demo", "real"]


@dataclass
class ServerHandle:
    kind: Kind
    base_url: str
    transport: httpx.AsyncBaseTransport | httpx.BaseTransport | None
    admin_username: str
    admin_password: str
    backend: Any = field(default=None, repr=False)  # the RealServer or DemoServer behind it
    _admin_token: str | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- constructors

    @classmethod
    def for_real(cls, server: RealServer) -> "ServerHandle":
        return cls("real", server.base_url, None, server.admin_username, server.admin_password, server)

    @classmethod
    def for_demo(cls, demo: Any, admin_password: str = "demo-pass") -> "ServerHandle":
        """The demo's signed-in user ("ada") plays the admin; ``admin_password`` is what the demo was built with."""
        return cls("demo", str(demo.base_url).rstrip("/"), demo.transport, demo.user_name, admin_password, demo)

    # ---------------------------------------------------------------- clients

    def async_client(self, token: str | None = None, **kw: Any) -> httpx.AsyncClient:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.transport is not None:
            kw["transport"] = self.transport
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=kw.pop("timeout", 60.0), **kw)

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        """A sync client (for the demo this works only if its MockTransport handler is sync)."""
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.transport is not None:
            kw["transport"] = self.transport
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=kw.pop("timeout", 60.0), **kw)

    async def request(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        async with self.async_client(token) as http:
            return await http.request(method, path, **kw)

    # ---------------------------------------------------------------- helpers

    async def login(self, username: str, password: str) -> str:
        r = await self.request("POST", "/api/v1/login", data={"username": username, "password": password})
        assert r.status_code == 200, f"password login as {username!r}: {r.status_code} {r.text}"
        return r.json()["access_token"]

    async def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = await self.login(self.admin_username, self.admin_password)
        return self._admin_token

    async def create_user(self, name: str | None = None, password: str = "user-pass-1234") -> str:
        name = name or f"user-{uuid.uuid4().hex[:10]}"
        if self.kind == "demo":  # the demo has no /api/v1/users endpoint: add the user in-process
            return self.backend.add_user(name, password)
        r = await self.request(
            "POST", "/api/v1/users", token=await self.admin_token(),
            json={"name": name, "password": password, "is_admin": False, "active": True},
        )
        assert r.status_code in (200, 201), f"creating user {name!r}: {r.status_code} {r.text}"
        return r.json()["id"]

    async def new_user_token(self, password: str = "user-pass-1234") -> str:
        """A token of a brand-new user: a device list no other test touches."""
        name = f"user-{uuid.uuid4().hex[:10]}"
        await self.create_user(name, password)
        return await self.login(name, password)

    async def start_device_login(self, client_id: str, user_agent: str = ZENML_USER_AGENT) -> httpx.Response:
        return await self.request(
            "POST", "/api/v1/device_authorization", data={"client_id": client_id},
            headers={"User-Agent": user_agent},
        )

    async def approve(
        self, device_id: str, user_code: str, trusted: bool = False, token: str | None = None
    ) -> httpx.Response:
        return await self.request(
            "PUT", f"/api/v1/devices/{device_id}/verify", token=token or await self.admin_token(),
            json={"user_code": user_code, "trusted_device": trusted},
        )

    async def poll(self, client_id: str, device_code: str) -> httpx.Response:
        return await self.request(
            "POST", "/api/v1/login",
            data={"grant_type": DEVICE_GRANT, "client_id": client_id, "device_code": device_code},
        )

    async def device_login(
        self, token: str | None = None, *, client_id: str | None = None,
        user_agent: str = ZENML_USER_AGENT, trusted: bool = False,
    ) -> DeviceLogin:
        """Run the whole flow; the device ends ``active``, owned by ``token``'s user (admin by default)."""
        client_id = client_id or str(uuid.uuid4())
        r = await self.start_device_login(client_id, user_agent)
        assert r.status_code == 200, r.text
        auth = r.json()
        device_id = device_id_from_uri(auth["verification_uri_complete"])
        r = await self.approve(device_id, auth["user_code"], trusted=trusted, token=token)
        assert r.status_code == 200, r.text
        r = await self.poll(client_id, auth["device_code"])
        assert r.status_code == 200, r.text
        return DeviceLogin(device_id, client_id, r.json()["access_token"], auth["user_code"], auth["device_code"])

    async def seed_devices(self, n: int, token: str | None = None, *, hostname_prefix: str = "seed") -> list[DeviceLogin]:
        """``n`` active devices owned by ``token``'s user, each with a working token.

        The real server copies database rows (the HTTP flow costs about 1 s a device there);
        the demo runs the flow ``n`` times.
        """
        if self.kind == "real":
            token = token or await self.admin_token()
            return await asyncio.to_thread(
                self.backend.seed_devices, n, token, hostname_prefix=hostname_prefix
            )
        out = []
        for i in range(n):
            ua = f"Host/{hostname_prefix}-{i:03d} ZenML/0.98.0 Python/3.11.7 OS/Linux"
            out.append(await self.device_login(token, user_agent=ua))
        return out

    async def expire_device(self, device_id: str) -> None:
        """Make a device's ``expires`` lie in the past (a timed-out request or an ended lifetime)."""
        if self.kind == "real":
            await asyncio.to_thread(self.backend.expire_device, device_id)
            return
        device = self.backend.devices[device_id]  # the demo's live record
        device.expires = self.backend.now() - timedelta(seconds=60)
