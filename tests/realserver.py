"""A real ZenML 0.98.0 server for integration tests.

``zenml[server]`` pins pydantic, click and friends, so it lives in its own virtualenv,
separate from the project's: ``<repo>/.cache/zenml-server-0.98.0`` by default, or the
directory named by ``ZENML_DEVICES_TEST_SERVER_VENV``. :func:`ensure_server_venv`
creates it on first use (a marker file is written only after a complete install, and
a file lock keeps two pytest processes from installing at once).

:class:`RealServer` runs ``uvicorn zenml.zen_server.zen_server_api:app`` on 127.0.0.1
with a SQLite database in a temporary directory (see zenml-api.md section 8). It can be
stopped and started again on the same port and database; the JWT secret is fixed, so
tokens issued before a restart still work after it.

The helpers here talk plain httpx, on purpose: they must not share bugs with the
project's own client.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx

ZENML_VERSION = "0.98.0"
ZENML_REQUIREMENT = f"zenml[server]=={ZENML_VERSION}"
VENV_ENV_VAR = "ZENML_DEVICES_TEST_SERVER_VENV"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV_DIR = REPO_ROOT / ".cache" / f"zenml-server-{ZENML_VERSION}"
MARKER_NAME = ".zenml-devices-installed"

ADMIN_USERNAME = "default"
ADMIN_PASSWORD = "zenml-devices-test-admin-pw"
JWT_SECRET = "zenml-devices-test-jwt-secret-8c1e7f1b5a2d4e6f9a0b3c5d7e9f1a2b"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: A User-Agent in the zenml CLI's format: the server reads these four fields from it.
ZENML_USER_AGENT = "Host/test-host ZenML/0.98.0 Python/3.11.7 OS/Linux"

HTTP_TIMEOUT = 60.0  # bcrypt at cost 12 on a loaded 2-core machine is slow


class ServerUnavailable(RuntimeError):
    """The real server could not be installed or started. ``str()`` says why, with log tails."""


# --------------------------------------------------------------------------- install


def venv_dir() -> Path:
    """Where the server's virtualenv lives (``$ZENML_DEVICES_TEST_SERVER_VENV`` wins)."""
    override = os.environ.get(VENV_ENV_VAR, "").strip()
    return Path(override).expanduser().resolve() if override else DEFAULT_VENV_DIR


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def clean_env(**extra: str) -> dict[str, str]:
    """A copy of this process's environment without the project venv or any ZENML_* setting."""
    env = dict(os.environ)
    active_venv = env.pop("VIRTUAL_ENV", None)
    for key in list(env):
        if key.startswith("ZENML_") or key in (
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONSTARTUP",
            "PYTHONSAFEPATH",
            "__PYVENV_LAUNCHER__",
            "VIRTUAL_ENV_PROMPT",
            "PIP_REQUIRE_VIRTUALENV",
            "PIP_TARGET",
            "PIP_PREFIX",
            "PIP_USER",
            "CONDA_PREFIX",
            "DISABLE_CREDENTIALS_DISK_CACHING",
        ):
            env.pop(key, None)
    bin_dirs = {str(Path(sys.prefix) / "bin")}
    if active_venv:
        bin_dirs.add(str(Path(active_venv) / "bin"))
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p not in bin_dirs)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _base_python() -> str:
    # Inside a venv, sys._base_executable is the interpreter the venv was made from.
    base = getattr(sys, "_base_executable", None)
    return base if base and Path(base).exists() else sys.executable


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def is_installed(venv: Path) -> bool:
    marker = venv / MARKER_NAME
    try:
        return marker.read_text().strip() == ZENML_REQUIREMENT and _venv_python(venv).exists()
    except OSError:
        return False


_IMPORT_CHECK = (
    "import zenml, uvicorn, zenml.zen_server.zen_server_api; "
    f"assert zenml.__version__ == {ZENML_VERSION!r}, zenml.__version__"
)


def _adopt(venv: Path) -> bool:
    """Accept an existing venv without our marker if the server app imports in it."""
    if not _venv_python(venv).exists():
        return False
    try:
        ok = subprocess.run(
            [str(_venv_python(venv)), "-c", _IMPORT_CHECK], env=clean_env(), capture_output=True, timeout=300
        ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    if ok:
        (venv / MARKER_NAME).write_text(ZENML_REQUIREMENT + "\n")
    return ok


def ensure_server_venv(venv: Path | None = None, *, install_timeout: float = 1800.0) -> Path:
    """Make sure ``zenml[server]==0.98.0`` is installed in ``venv``; return the venv path.

    Raises :class:`ServerUnavailable` with the tail of the pip log if it cannot be done.
    """
    venv = venv or venv_dir()
    if is_installed(venv):
        return venv
    lock = venv.parent / f"{venv.name}.lock"
    log = venv.parent / f"{venv.name}.install.log"
    with _file_lock(lock):
        if is_installed(venv):  # another process finished it while we waited
            return venv
        if _adopt(venv):  # a complete install made by hand (or before markers existed)
            return venv
        if venv.exists():
            if any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
                raise ServerUnavailable(f"{venv} exists and is not a virtualenv; not touching it")
            shutil.rmtree(venv)  # a half-finished install: start over
        env = clean_env()
        started = time.monotonic()
        with open(log, "w") as out:
            out.write(f"# {ZENML_REQUIREMENT} into {venv}\n")
            out.flush()
            steps = [
                [_base_python(), "-m", "venv", str(venv)],
                [str(_venv_python(venv)), "-m", "pip", "install", "--quiet", ZENML_REQUIREMENT],
                [str(_venv_python(venv)), "-c", _IMPORT_CHECK],
            ]
            for cmd in steps:
                out.write(f"$ {' '.join(cmd)}\n")
                out.flush()
                try:
                    rc = subprocess.run(
                        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=venv.parent,
                        timeout=max(60.0, install_timeout - (time.monotonic() - started)),
                    ).returncode
                except (OSError, subprocess.TimeoutExpired) as exc:
                    out.write(f"\n{exc!r}\n")
                    rc = -1
                if rc != 0:
                    out.flush()
                    raise ServerUnavailable(
                        f"could not install {ZENML_REQUIREMENT} into {venv} (step {cmd[1:3]} failed, "
                        f"rc={rc}); log {log}:\n{_tail(log)}"
                    )
            out.write(f"# done in {time.monotonic() - started:.1f} s\n")
        (venv / MARKER_NAME).write_text(ZENML_REQUIREMENT + "\n")
    return venv


# --------------------------------------------------------------------------- server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def device_id_from_uri(uri: str) -> str:
    """The device UUID from ``verification_uri_complete`` (``...?device_id=<uuid>&user_code=...``)."""
    return parse_qs(urlsplit(uri).query)["device_id"][0]


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, not verified."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class DeviceLogin:
    """A device that went through the whole flow: it is ``active`` and ``token`` works."""

    id: str
    client_id: str
    token: str
    user_code: str = ""
    device_code: str = ""


# The server bcrypt-hashes user codes, device codes and passwords at passlib's default cost
# (12 rounds, about 0.25 s each here; a device login costs four of them). The test server
# uses 4 rounds instead: same code paths and answers, hashes about 250 times cheaper.
_FAST_HASHING_HOOK = """\
# Written by zenml-devices' tests/realserver.py: cheaper bcrypt for a throwaway test server.
try:
    from passlib.handlers.bcrypt import bcrypt as _bcrypt

    _bcrypt.default_rounds = 4
except Exception:  # pragma: no cover - never stop the server from starting
    pass
"""


class RealServer:
    """One ``uvicorn zenml.zen_server.zen_server_api:app`` process (restartable)."""

    def __init__(
        self,
        venv: Path,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        admin_password: str = ADMIN_PASSWORD,
        extra_env: dict[str, str] | None = None,
        startup_timeout: float = 90.0,
        fast_hashing: bool = True,
    ) -> None:
        self.venv = Path(venv)
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.admin_username = ADMIN_USERNAME
        self.admin_password = admin_password
        self.extra_env = dict(extra_env or {})
        self.startup_timeout = startup_timeout
        self.fast_hashing = fast_hashing
        self.log_path = self.data_dir / "server.log"
        self.db_path = self.data_dir / "zenml.db"
        self.process: subprocess.Popen[bytes] | None = None
        self.last_startup_seconds: float | None = None
        self._admin_token: str | None = None
        self._server_id: str | None = None
        self._atexit_registered = False

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def env(self) -> dict[str, str]:
        d = self.data_dir
        extra = dict(self.extra_env)
        if self.fast_hashing:
            hooks = d / "pyhooks"
            hooks.mkdir(parents=True, exist_ok=True)
            (hooks / "sitecustomize.py").write_text(_FAST_HASHING_HOOK)
            extra["PYTHONPATH"] = str(hooks)
        return clean_env(
            ZENML_CONFIG_PATH=str(d / "config"),
            ZENML_LOCAL_STORES_PATH=str(d / "stores"),
            ZENML_STORE_URL=f"sqlite:///{self.db_path}",
            ZENML_SERVER_AUTO_ACTIVATE="true",
            ZENML_DEFAULT_USER_NAME=self.admin_username,
            ZENML_DEFAULT_USER_PASSWORD=self.admin_password,
            ZENML_SERVER_JWT_SECRET_KEY=JWT_SECRET,
            ZENML_ANALYTICS_OPT_IN="false",
            ZENML_SERVER_AUTH_SCHEME="OAUTH2_PASSWORD_BEARER",
            ZENML_SERVER_DEVICE_AUTH_POLLING_INTERVAL="1",
            ZENML_SERVER_DEVICE_AUTH_TIMEOUT="300",
            ZENML_LOGGING_COLORS_DISABLED="true",
            ZENML_ENABLE_RICH_TRACEBACK="false",
            **extra,
        )

    def start(self) -> "RealServer":
        """Start the server (same port and database as before) and wait for ``/api/v1/info``."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(_venv_python(self.venv)), "-m", "uvicorn", "zenml.zen_server.zen_server_api:app",
            "--host", self.host, "--port", str(self.port), "--no-use-colors",
        ]
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {datetime.now().isoformat()} starting: {' '.join(cmd)}\n".encode())
            log.flush()
            try:
                self.process = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=self.env(), cwd=self.data_dir,
                )
            except OSError as exc:
                raise ServerUnavailable(f"could not run {cmd[0]}: {exc}") from exc
        deadline = started + self.startup_timeout
        last_error = "no answer yet"
        with httpx.Client(timeout=5.0) as http:
            while True:
                if self.process.poll() is not None:
                    rc = self.process.returncode
                    self.process = None
                    raise ServerUnavailable(
                        f"the ZenML server exited with code {rc} during startup; log {self.log_path}:\n"
                        f"{_tail(self.log_path)}"
                    )
                try:
                    r = http.get(f"{self.base_url}/api/v1/info")
                    if r.status_code == 200 and r.json().get("active") is True:
                        self._server_id = r.json().get("id")
                        break
                    last_error = f"HTTP {r.status_code}: {r.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    last_error = repr(exc)
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerUnavailable(
                        f"the ZenML server did not answer /api/v1/info within {self.startup_timeout:.0f} s "
                        f"({last_error}); log {self.log_path}:\n{_tail(self.log_path)}"
                    )
                time.sleep(0.2)
        self.last_startup_seconds = time.monotonic() - started
        if not self._atexit_registered:  # a backstop if pytest dies before the fixture's teardown
            atexit.register(self.stop)
            self._atexit_registered = True
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server by PID: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def restart(self) -> "RealServer":
        self.stop()
        return self.start()

    def __enter__(self) -> "RealServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- raw HTTP helpers

    def http(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=kw.pop("timeout", HTTP_TIMEOUT), **kw)

    def request(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        with self.http(token) as http:
            return http.request(method, path, **kw)

    @property
    def server_id(self) -> str:
        if self._server_id is None:
            self._server_id = self.request("GET", "/api/v1/info").json()["id"]
        return self._server_id

    def login(self, username: str, password: str) -> str:
        """Password login; returns the access token."""
        r = self.request("POST", "/api/v1/login", data={"username": username, "password": password})
        if r.status_code != 200:
            raise AssertionError(f"password login as {username!r} failed: {r.status_code} {r.text}")
        return r.json()["access_token"]

    def admin_token(self, *, fresh: bool = False) -> str:
        """A token of the admin user (cached: the fixed JWT secret keeps it valid across restarts)."""
        if fresh or self._admin_token is None:
            self._admin_token = self.login(self.admin_username, self.admin_password)
        return self._admin_token

    def user_id(self, token: str) -> str:
        r = self.request("GET", "/api/v1/current-user", token=token)
        r.raise_for_status()
        return r.json()["id"]

    def create_user(self, name: str | None = None, password: str = "user-pass-1234", *, is_admin: bool = False) -> str:
        """Create a user with the admin token; return its id."""
        name = name or f"user-{uuid.uuid4().hex[:10]}"
        r = self.request(
            "POST", "/api/v1/users", token=self.admin_token(),
            json={"name": name, "password": password, "is_admin": is_admin, "active": True},
        )
        if r.status_code not in (200, 201):
            raise AssertionError(f"creating user {name!r} failed: {r.status_code} {r.text}")
        return r.json()["id"]

    def new_user_token(self, password: str = "user-pass-1234") -> tuple[str, str]:
        """Create a fresh user and log in: ``(user_id, token)``. Gives a test a device list of its own."""
        name = f"user-{uuid.uuid4().hex[:10]}"
        user_id = self.create_user(name, password)
        return user_id, self.login(name, password)

    def start_device_login(self, client_id: str, user_agent: str = ZENML_USER_AGENT) -> httpx.Response:
        """``POST /api/v1/device_authorization`` (form ``client_id``); the raw response."""
        return self.request(
            "POST", "/api/v1/device_authorization", data={"client_id": client_id},
            headers={"User-Agent": user_agent},
        )

    def approve(
        self, device_id: str, user_code: str, trusted: bool = False, token: str | None = None
    ) -> httpx.Response:
        """``PUT /api/v1/devices/{id}/verify`` as the dashboard does (admin token by default)."""
        return self.request(
            "PUT", f"/api/v1/devices/{device_id}/verify", token=token or self.admin_token(),
            json={"user_code": user_code, "trusted_device": trusted},
        )

    def poll(self, client_id: str, device_code: str) -> httpx.Response:
        """One device-code poll of ``POST /api/v1/login``; the raw response."""
        return self.request(
            "POST", "/api/v1/login",
            data={"grant_type": DEVICE_GRANT, "client_id": client_id, "device_code": device_code},
        )

    def device_login(
        self,
        token: str | None = None,
        *,
        client_id: str | None = None,
        user_agent: str = ZENML_USER_AGENT,
        trusted: bool = False,
    ) -> DeviceLogin:
        """The whole flow for a (new) client id, approved by ``token``'s user (admin by default)."""
        client_id = client_id or str(uuid.uuid4())
        r = self.start_device_login(client_id, user_agent)
        assert r.status_code == 200, r.text
        auth = r.json()
        device_id = device_id_from_uri(auth["verification_uri_complete"])
        r = self.approve(device_id, auth["user_code"], trusted=trusted, token=token)
        assert r.status_code == 200, r.text
        r = self.poll(client_id, auth["device_code"])
        assert r.status_code == 200, r.text
        return DeviceLogin(device_id, client_id, r.json()["access_token"], auth["user_code"], auth["device_code"])

    # ---------------------------------------------------------------- shortcuts through the database
    # The device flow costs three bcrypt operations per device (about 1 s here), so seeding
    # many devices through HTTP is slow. These write the SQLite database directly; the
    # server reads devices from the database on every request, so it sees the change at once.

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=30.0)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def seed_devices(
        self,
        n: int,
        token: str | None = None,
        *,
        hostname_prefix: str = "seed",
        status: str = "active",
    ) -> list[DeviceLogin]:
        """``n`` devices owned by ``token``'s user (admin by default), each with a working token.

        The first goes through the real flow; the others are copies of its database row
        with new ids, client ids, hostnames (``<prefix>-000``...) and increasing ``created``
        times, and tokens signed with the server's (fixed) JWT secret.
        """
        if n <= 0:
            return []
        token = token or self.admin_token()
        first = self.device_login(token, user_agent=f"Host/{hostname_prefix}-000 ZenML/0.98.0 Python/3.11.7 OS/Linux")
        user_id = self.user_id(token)
        out = [first]
        with self._db() as db:
            cols = [row[1] for row in db.execute("PRAGMA table_info(auth_devices)")]
            src = db.execute(
                f"SELECT {', '.join(cols)} FROM auth_devices WHERE id = ?", (uuid.UUID(first.id).hex,)
            ).fetchone()
            assert src is not None, "seeded device not found in the database"
            base = dict(zip(cols, src))
            t0 = datetime.fromisoformat(str(base["created"]))
            for i in range(1, n):
                row = dict(base)
                dev_id, client_id = uuid.uuid4(), uuid.uuid4()
                stamp = (t0 + timedelta(milliseconds=i)).isoformat(sep=" ")
                row.update(
                    id=dev_id.hex, client_id=client_id.hex, hostname=f"{hostname_prefix}-{i:03d}",
                    created=stamp, updated=stamp, status=status,
                )
                db.execute(
                    f"INSERT INTO auth_devices ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()),
                )
                out.append(DeviceLogin(str(dev_id), str(client_id), self.mint_token(user_id, str(dev_id))))
            if status != "active":
                db.execute("UPDATE auth_devices SET status = ? WHERE id = ?", (status, uuid.UUID(first.id).hex))
        return out

    def set_device_fields(self, device_id: str, **fields: Any) -> None:
        """Overwrite columns of a device row (e.g. ``expires=``, ``status=``) in the database."""
        conv = {k: (v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
                    if isinstance(v, datetime) and v.tzinfo else
                    v.isoformat(sep=" ") if isinstance(v, datetime) else v)
                for k, v in fields.items()}
        with self._db() as db:
            cur = db.execute(
                f"UPDATE auth_devices SET {', '.join(f'{k} = ?' for k in conv)} WHERE id = ?",
                [*conv.values(), uuid.UUID(device_id).hex],
            )
            assert cur.rowcount == 1, f"no device {device_id} in the database"

    def expire_device(self, device_id: str, seconds_ago: float = 60.0) -> None:
        """Move a device's ``expires`` into the past: a pending request that timed out, or an
        active device whose lifetime ended. Cheaper than a second server with a short
        ``device_auth_timeout``, and the server checks the same column either way."""
        self.set_device_fields(
            device_id, expires=datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
        )

    def mint_token(self, user_id: str, device_id: str | None = None) -> str:
        """A token like the server's own (HS256, ``sub``/``iss``/``aud``/``iat``[/``device_id``])."""
        claims: dict[str, Any] = {"sub": user_id, "iss": self.server_id, "aud": self.server_id, "iat": time.time()}
        if device_id:
            claims["device_id"] = device_id
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(sig)}"
