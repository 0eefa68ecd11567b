"""Shared fixtures.

* ``real_server``: one real ZenML 0.98.0 server per pytest session (see tests/realserver.py).
  Installing or starting it may fail on a machine without network or Python headers: the
  tests that need it are then skipped with the reason, except under ``CI=true``, where they
  fail. Mark such tests ``@pytest.mark.realserver``.
* ``server``: a :class:`tests.servers.ServerHandle`, parametrized over ``demo`` (a fresh
  in-process DemoServer per test) and ``real`` (the session server).
"""

from __future__ import annotations

import os
import time
from typing import Iterator

import pytest

from tests.realserver import RealServer, ServerUnavailable, ensure_server_venv, venv_dir
from tests.servers import ServerHandle

_timings: dict[str, float] = {}
DEMO_ADMIN_PASSWORD = "demo-pass"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    message = f"REAL ZENML SERVER UNAVAILABLE: {reason}"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The session's real server, started once. Prefer ``real_server``, which restarts it if needed."""
    try:
        t0 = time.monotonic()
        venv = ensure_server_venv(venv_dir())
        _timings["venv ready (install or cache check)"] = time.monotonic() - t0
        server = RealServer(venv, tmp_path_factory.mktemp("zenml-server"))
        server.start()
        _timings["server startup"] = server.last_startup_seconds or 0.0
    except ServerUnavailable as exc:
        _unavailable(str(exc))
        raise  # not reached
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def real_server(real_server_session: RealServer) -> RealServer:
    """The session's real server, running (a test that stopped it and failed does not break the next)."""
    if not real_server_session.running:
        try:
            real_server_session.start()
        except ServerUnavailable as exc:
            _unavailable(f"restart failed: {exc}")
    return real_server_session


@pytest.fixture(scope="session")
def rate_limited_server(real_server_session: RealServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """A second, small real server with the login rate limit on (5 a minute), started only if asked for.

    The rate limit cannot be switched on per request, and on the main server it would
    turn the other tests' polls into 429s.
    """
    server = RealServer(
        real_server_session.venv,
        tmp_path_factory.mktemp("zenml-server-rate-limited"),
        extra_env={"ZENML_SERVER_RATE_LIMIT_ENABLED": "true", "ZENML_SERVER_LOGIN_RATE_LIMIT_MINUTE": "5"},
    )
    try:
        server.start()
        _timings["rate-limited server startup"] = server.last_startup_seconds or 0.0
    except ServerUnavailable as exc:
        _unavailable(f"rate-limited server: {exc}")
    try:
        yield server
    finally:
        server.stop()


def _demo_server():
    try:
        from zenml_devices_tui.demo.server import DemoServer
    except ImportError as exc:
        pytest.skip(f"the demo server is not available yet: {exc}")
    return DemoServer(auto_approve_after=None, live=False, admin_password=DEMO_ADMIN_PASSWORD)


@pytest.fixture(params=["demo", pytest.param("real", marks=pytest.mark.realserver)])
def server(request: pytest.FixtureRequest) -> Iterator[ServerHandle]:
    """The same HTTP API, served by the demo (per test) or the real server (per session)."""
    if request.param == "real":
        yield ServerHandle.for_real(request.getfixturevalue("real_server"))
        return
    demo = _demo_server()
    try:
        yield ServerHandle.for_demo(demo, DEMO_ADMIN_PASSWORD)
    finally:
        close = getattr(demo, "close", None)
        if callable(close):
            close()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if _timings:
        terminalreporter.write_sep("-", "real ZenML server")
        for name, seconds in _timings.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f} s")
