"""Where access tokens are kept between runs: the OS keyring, a private file, or memory.

:func:`open_token_store` picks the backend: ``ZENML_DEVICES_TOKEN_STORE`` (or the
``backend`` argument, which wins) forces one of ``keyring``, ``file`` or ``memory``;
otherwise the keyring when a usable one exists, else ``tokens.json`` (mode 0600, in the
0700 config directory), else memory. A fallback is explained once in
:attr:`TokenStore.notice`.

Tokens are keyed by :func:`~zenml_devices_tui.core.urls.normalize_server_url` and are
:class:`Secret` everywhere outside the storage itself. The file is re-read under an
``flock`` before every write, so two app instances writing different servers keep both.
A corrupt file is moved aside (``tokens.json.corrupt-<timestamp>``), never deleted.

Calls may block (keyring, disk): the UI runs them in a thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol
from uuid import UUID

from zenml_devices_tui.core.errors import ZenMLError
from zenml_devices_tui.core.jwt import decode_claims
from zenml_devices_tui.core.models import TokenResponse, parse_datetime
from zenml_devices_tui.core.paths import atomic_write, ensure_private_dir, file_lock, set_aside
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.urls import normalize_server_url

SERVICE_NAME = "zenml-devices"
TOKENS_FILE = "tokens.json"
ENV_VAR = "ZENML_DEVICES_TOKEN_STORE"
BACKENDS = ("keyring", "file", "memory")
#: A token counts as expired this long before its real expiry, so no request fails half-way.
EXPIRY_LEEWAY = timedelta(seconds=30)
FILE_VERSION = 1


class TokenStoreError(ZenMLError):
    """The token could not be read, saved or removed."""

    default_message = "The token store could not be used."


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------- the token


@dataclass(frozen=True)
class StoredToken:
    server_url: str
    access_token: Secret
    expires_at: datetime | None
    device_id: str | None
    server_id: str | None

    @classmethod
    def from_token_response(
        cls,
        server_url: str,
        response: TokenResponse,
        server_id: str | None = None,
        now: datetime | None = None,
    ) -> "StoredToken":
        """Expiry from ``expires_in``, else the JWT ``exp``; ``device_id`` (and, failing ``server_id``, ``iss``) from the JWT."""
        now = _aware(now or utc_now())
        claims = decode_claims(response.access_token)
        expires_at: datetime | None = None
        if response.expires_in:
            expires_at = now + timedelta(seconds=response.expires_in)
        else:
            expires_at = _epoch(claims.get("exp"))
        return cls(
            server_url=normalize_server_url(server_url),
            access_token=response.access_token,
            expires_at=expires_at,
            device_id=_uuid_or_none(claims.get("device_id")),
            server_id=server_id or _uuid_or_none(claims.get("iss")),
        )

    def is_expired(self, now: datetime) -> bool:
        """True from :data:`EXPIRY_LEEWAY` before the expiry on; never for a token without one. Naive ``now`` is UTC."""
        return self.expires_at is not None and _aware(now) >= self.expires_at - EXPIRY_LEEWAY

    def to_json(self) -> dict[str, Any]:
        return {
            "server_url": self.server_url,
            "access_token": self.access_token.reveal(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "device_id": self.device_id,
            "server_id": self.server_id,
        }

    @classmethod
    def from_json(cls, server_url: str, data: Any) -> "StoredToken | None":
        """``None`` for an entry that is not a token (a corrupt or foreign one)."""
        if not isinstance(data, Mapping):
            return None
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            return None
        expires_raw = data.get("expires_at")
        expires_at = parse_datetime(expires_raw)
        if expires_raw is not None and expires_at is None:
            return None
        return cls(
            server_url=server_url,
            access_token=Secret(token),
            expires_at=expires_at,
            device_id=_uuid_or_none(data.get("device_id")),
            server_id=_uuid_or_none(data.get("server_id")),
        )


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _uuid_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None


# ---------------------------------------------------------------- backends


class _Backend(Protocol):
    def read(self, key: str) -> Any: ...

    def write(self, key: str, entry: dict[str, Any]) -> None: ...

    def remove(self, key: str) -> bool: ...


class _MemoryBackend:
    def __init__(self) -> None:
        self._entries: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"_MemoryBackend({len(self._entries)} entries)"

    def read(self, key: str) -> Any:
        raw = self._entries.get(key)
        return None if raw is None else json.loads(raw)

    def write(self, key: str, entry: dict[str, Any]) -> None:
        self._entries[key] = json.dumps(entry)

    def remove(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None


class _KeyringBackend:
    """One keyring entry per server (service ``zenml-devices``, user name = normalized URL), holding JSON."""

    def __init__(self, ring: Any) -> None:
        self._ring = ring

    def __repr__(self) -> str:
        return f"_KeyringBackend({type(self._ring).__name__})"

    def read(self, key: str) -> Any:
        raw = self._call("read the token from", self._ring.get_password, SERVICE_NAME, key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def write(self, key: str, entry: dict[str, Any]) -> None:
        self._call("save the token in", self._ring.set_password, SERVICE_NAME, key, json.dumps(entry))

    def remove(self, key: str) -> bool:
        if self._call("read the token from", self._ring.get_password, SERVICE_NAME, key) is None:
            return False
        self._call("remove the token from", self._ring.delete_password, SERVICE_NAME, key)
        return True

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # keyring backends raise all sorts (KeyringLocked, D-Bus errors, ...)
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise TokenStoreError(
                f"Could not {what} the system keyring ({reason}); it may be locked. Unlock it, or set "
                "ZENML_DEVICES_TOKEN_STORE=file to keep tokens in a private file instead."
            ) from None


class _FileBackend:
    """``tokens.json``: ``{"version": 1, "tokens": {url: entry}}``, re-read under a lock for every call."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / TOKENS_FILE
        self.lock_path = directory / (TOKENS_FILE + ".lock")
        self.notices: list[str] = []

    def __repr__(self) -> str:
        return f"_FileBackend({str(self.path)!r})"

    def read(self, key: str) -> Any:
        with self._locked("read"):
            return self._load().get(key)

    def write(self, key: str, entry: dict[str, Any]) -> None:
        with self._locked("save"):
            tokens = self._load()
            tokens[key] = entry
            self._save(tokens)

    def remove(self, key: str) -> bool:
        with self._locked("remove"):
            tokens = self._load()
            if key not in tokens:
                return False
            del tokens[key]
            self._save(tokens)
            return True

    def check(self) -> None:
        """Load once, so a corrupt file is noticed (and moved aside) when the store opens."""
        with self._locked("read"):
            self._load()

    # -------------------------------------------------------- under the lock

    @contextlib.contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            try:
                ensure_private_dir(self.directory)
                stack.enter_context(file_lock(self.lock_path))
            except OSError as exc:
                raise TokenStoreError(f"Could not {what} the token file {self.path}: {exc.strerror or exc}.") from None
            yield

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise TokenStoreError(f"Could not read the token file {self.path}: {exc.strerror or exc}.") from None
        if os.name == "posix":
            try:
                if self.path.stat().st_mode & 0o077:
                    os.chmod(self.path, 0o600)
            except OSError:
                pass
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            data = None
        tokens = data.get("tokens", {}) if isinstance(data, dict) else None
        if not isinstance(tokens, dict):
            return self._quarantine()
        return tokens

    def _quarantine(self) -> dict[str, Any]:
        try:
            aside = set_aside(self.path)
        except OSError as exc:
            raise TokenStoreError(
                f"The token file {self.path} is corrupt and could not be moved aside ({exc.strerror or exc})."
            ) from None
        self.notices.append(
            f"The token file {self.path} was corrupt; it was moved to {aside} and a new one is used. "
            "Sign in again."
        )
        return {}

    def _save(self, tokens: dict[str, Any]) -> None:
        try:
            atomic_write(self.path, json.dumps({"version": FILE_VERSION, "tokens": tokens}, indent=2) + "\n")
        except OSError as exc:
            raise TokenStoreError(f"Could not save the token file {self.path}: {exc.strerror or exc}.") from None


# ---------------------------------------------------------------- the store


class TokenStore:
    """Tokens by server URL. ``backend`` says where they live; ``notice`` is a one-time note for the user."""

    def __init__(
        self,
        backend: str = "memory",
        *,
        config_dir: Path | None = None,
        keyring_backend: Any = None,
        notice: str | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        if backend not in BACKENDS:
            raise TokenStoreError(f"Unknown token store {backend!r}; use keyring, file or memory.")
        self.backend = backend
        self._notice = notice
        self._now = now
        self._impl: _Backend
        if backend == "file":
            if config_dir is None:
                raise TokenStoreError("A file token store needs a config directory.")
            self._impl = _FileBackend(Path(config_dir))
        elif backend == "keyring":
            if keyring_backend is None:
                import keyring

                keyring_backend = keyring.get_keyring()
            self._impl = _KeyringBackend(keyring_backend)
        else:
            self._impl = _MemoryBackend()

    def __repr__(self) -> str:
        return f"TokenStore(backend={self.backend!r})"

    @property
    def path(self) -> Path | None:
        """The token file, for the ``file`` backend."""
        return self._impl.path if isinstance(self._impl, _FileBackend) else None

    @property
    def notice(self) -> str | None:
        parts = [self._notice] if self._notice else []
        parts.extend(self.problems)
        return " ".join(parts) or None

    @property
    def fallback_notice(self) -> str | None:
        """Why tokens are not in the keyring (said once per config directory)."""
        return self._notice

    @property
    def problems(self) -> list[str]:
        """What went wrong opening the store (a corrupt file set aside): said every time."""
        return list(self._impl.notices) if isinstance(self._impl, _FileBackend) else []

    def get(self, server_url: str) -> StoredToken | None:
        """The stored, unexpired token for this server, or ``None``."""
        key = normalize_server_url(server_url)
        token = StoredToken.from_json(key, self._impl.read(key))
        if token is None or token.is_expired(self._now()):
            return None
        return token

    def put(self, token: StoredToken) -> None:
        key = normalize_server_url(token.server_url)
        entry = token.to_json()
        entry["server_url"] = key
        self._impl.write(key, entry)

    def delete(self, server_url: str) -> bool:
        """Forget this server's token; ``True`` if there was one."""
        return self._impl.remove(normalize_server_url(server_url))

    def _check(self) -> None:
        if isinstance(self._impl, _FileBackend):
            self._impl.check()


# ---------------------------------------------------------------- choosing


def usable_keyring() -> Any:
    """The current keyring backend if it can really store secrets, else ``None``."""
    try:
        import keyring

        ring = keyring.get_keyring()
    except Exception:
        return None
    return ring if _is_usable(ring) else None


def _is_usable(ring: Any) -> bool:
    from keyring.backends import chainer, fail, null

    if isinstance(ring, (fail.Keyring, null.Keyring)):
        return False
    if isinstance(ring, chainer.ChainerBackend):
        try:
            members = list(ring.backends)
        except Exception:
            return False
        return any(_is_usable(member) for member in members)
    try:
        priority = float(ring.priority)
    except Exception:  # some backends raise from ``priority`` when they cannot work here
        return False
    return priority >= 1


def open_token_store(config_dir: Path, backend: str | None = None, *, environ: Mapping[str, str] | None = None,
                     now: Callable[[], datetime] = utc_now) -> TokenStore:
    """The token store for this run (see the module docstring for how it is chosen)."""
    env = os.environ if environ is None else environ
    choice = (backend or env.get(ENV_VAR) or "").strip().lower() or None
    directory = Path(config_dir)
    if choice is not None and choice not in BACKENDS:
        raise TokenStoreError(f"{ENV_VAR}={choice!r} is not a token store; use keyring, file or memory.")
    if choice == "memory":
        return TokenStore("memory", now=now)
    if choice == "keyring":
        ring = usable_keyring()
        if ring is None:
            raise TokenStoreError(
                "The keyring token store was asked for, but no usable system keyring is available here. "
                f"Set {ENV_VAR}=file to keep tokens in a private file instead."
            )
        return TokenStore("keyring", keyring_backend=ring, now=now)
    if choice == "file":
        store = TokenStore("file", config_dir=directory, now=now)
        store._check()
        return store

    ring = usable_keyring()
    if ring is not None:
        return TokenStore("keyring", keyring_backend=ring, now=now)
    try:
        ensure_private_dir(directory)
        _probe_writable(directory)
    except OSError as exc:
        return TokenStore(
            "memory",
            notice=(
                f"No usable keyring, and {directory} cannot be written ({exc.strerror or exc}): tokens are kept in "
                "memory and forgotten when the app exits."
            ),
            now=now,
        )
    store = TokenStore(
        "file",
        config_dir=directory,
        notice=f"No usable keyring here; tokens are kept in {directory / TOKENS_FILE} (mode 0600).",
        now=now,
    )
    store._check()
    return store


class DeferredTokenStore:
    """A :class:`TokenStore` opened on first use.

    Finding out whether a usable keyring exists imports keyring and asks its backends, about
    0.1 s: the CLI hands the app this instead, so that happens in the app's worker thread
    after the first paint, not before it. Safe to resolve from any thread.
    """

    def __init__(self, opener: Callable[[], TokenStore]) -> None:
        self._opener = opener
        self._store: TokenStore | None = None
        self._lock = threading.Lock()

    def resolve(self) -> TokenStore:
        with self._lock:
            if self._store is None:
                self._store = self._opener()
            return self._store

    def __repr__(self) -> str:
        return f"DeferredTokenStore({self._store!r})"

    @property
    def backend(self) -> str:
        return self.resolve().backend

    @property
    def path(self) -> Path | None:
        return self.resolve().path

    @property
    def notice(self) -> str | None:
        return self.resolve().notice

    @property
    def fallback_notice(self) -> str | None:
        return self.resolve().fallback_notice

    @property
    def problems(self) -> list[str]:
        return self.resolve().problems

    def get(self, server_url: str) -> StoredToken | None:
        return self.resolve().get(server_url)

    def put(self, token: StoredToken) -> None:
        self.resolve().put(token)

    def delete(self, server_url: str) -> bool:
        return self.resolve().delete(server_url)


def deferred_token_store(config_dir: Path, *, environ: Mapping[str, str] | None = None) -> TokenStore | DeferredTokenStore:
    """Like :func:`open_token_store`, but the keyring look-up waits for first use.

    A backend forced with ``ZENML_DEVICES_TOKEN_STORE`` is opened at once, so a wrong value
    or an unusable forced keyring is reported before the app starts.
    """
    env = os.environ if environ is None else environ
    if (env.get(ENV_VAR) or "").strip():
        return open_token_store(config_dir, environ=env)
    return DeferredTokenStore(lambda: open_token_store(config_dir, environ=env))


def _probe_writable(directory: Path) -> None:
    probe = directory / f".write-test-{os.getpid()}"
    with open(probe, "wb"):
        pass
    os.unlink(probe)
