"""Everything the app is handed when it starts: services, settings and clocks.

The CLI builds an :class:`AppContext`; the UI only uses what it is given. Tests build
one around the demo server with fixed clocks and a memory token store.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from zenml_devices_tui.core.client import ZenMLClient
from zenml_devices_tui.core.config import AppConfig
from zenml_devices_tui.core.identity import get_or_create_client_id
from zenml_devices_tui.core.token_store import DeferredTokenStore, TokenStore, deferred_token_store, open_token_store
from zenml_devices_tui.core.useragent import build_user_agent

DEFAULT_REFRESH = 5.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def running_over_ssh(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))


def has_local_display(environ: dict[str, str] | None = None) -> bool:
    """True where a graphical browser could open: macOS, Windows, or X11/Wayland."""
    env = os.environ if environ is None else environ
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@dataclass
class AppContext:
    """What the app needs, built outside it (dependency injection)."""

    config_dir: Path
    config: AppConfig
    token_store: TokenStore | DeferredTokenStore
    client_id: str
    user_agent: str
    hostname: str
    make_client: Callable[[str], ZenMLClient]
    server_url: str | None = None
    refresh_interval: float = DEFAULT_REFRESH
    read_only: bool = False
    insecure: bool = False
    demo: Any = None
    can_open_browser: bool = False
    remember_servers: bool = True
    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    extra: dict[str, Any] = field(default_factory=dict)


def build_context(
    directory: Path,
    config: AppConfig,
    *,
    server_url: str | None,
    demo: Any = None,
    refresh: float | None = None,
    read_only: bool = False,
    ca_cert: str | None = None,
    insecure: bool = False,
) -> AppContext:
    """The real services for a run of the command."""
    hostname = platform.node() or "unknown"
    if demo is not None:
        token_store = open_token_store(directory, backend="memory")
        transport = demo.transport

        def make_client(url: str) -> ZenMLClient:
            return ZenMLClient(url, transport=transport, user_agent=user_agent)

    else:
        token_store = deferred_token_store(directory)
        verify: bool | str = False if insecure else (ca_cert or True)

        def make_client(url: str) -> ZenMLClient:
            return ZenMLClient(url, verify=verify, user_agent=user_agent)

    user_agent = build_user_agent(hostname=hostname)
    return AppContext(
        config_dir=directory,
        config=config,
        token_store=token_store,
        client_id=get_or_create_client_id(directory) if demo is None else "00000000-0000-4000-8000-00000000d3e0",
        user_agent=user_agent,
        hostname=hostname,
        make_client=make_client,
        server_url=server_url,
        refresh_interval=refresh or config.refresh or DEFAULT_REFRESH,
        read_only=read_only,
        insecure=insecure,
        demo=demo,
        can_open_browser=has_local_display() and not running_over_ssh(),
        remember_servers=demo is None,
    )
