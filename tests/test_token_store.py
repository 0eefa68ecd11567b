"""Token storage: keyring, 0600 file and memory backends, and how one is chosen."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import chainer, fail, null

from zenml_devices_tui.core import token_store as ts
from zenml_devices_tui.core.errors import ZenMLError
from zenml_devices_tui.core.models import TokenResponse
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.token_store import (
    SERVICE_NAME,
    StoredToken,
    TokenStore,
    TokenStoreError,
    open_token_store,
)

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc)
SERVER = "http://127.0.0.1:8237"
OTHER = "https://zenml.example.com"
DEVICE_ID = "32112074-6bcb-42c0-9e83-162f9a6b470d"
SERVER_ID = "ade5fb99-6c1e-4d2b-9d4f-0f7a4b2c8e11"
TOKEN_TEXT = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXRoYXQtaXMtc2VjcmV0"

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and flock")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    return f"{b64(b'{}')}.{b64(json.dumps(claims).encode())}.{b64(b'sig')}"


def stored(server: str = SERVER, token: str = TOKEN_TEXT, expires_at: datetime | None = None) -> StoredToken:
    return StoredToken(server_url=server, access_token=Secret(token), expires_at=expires_at,
                       device_id=DEVICE_ID, server_id=SERVER_ID)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _no_env_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZENML_DEVICES_TOKEN_STORE", raising=False)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A tiny usable keyring for tests."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.locked = False

    def get_password(self, service: str, username: str) -> str | None:
        if self.locked:
            raise keyring.errors.KeyringLocked("the keyring is locked")
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.locked:
            raise keyring.errors.KeyringLocked("the keyring is locked")
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.locked:
            raise keyring.errors.KeyringLocked("the keyring is locked")
        if (service, username) not in self.entries:
            raise keyring.errors.PasswordDeleteError("not found")
        del self.entries[(service, username)]


class LowPriorityKeyring(MemoryKeyring):
    priority = 0.5  # type: ignore[assignment]


class EmptyChainer(chainer.ChainerBackend):
    backends = ()  # type: ignore[assignment]


@pytest.fixture
def use_keyring() -> Iterator[Any]:
    previous = keyring.get_keyring()

    def install(backend: Any) -> Any:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


# ------------------------------------------------------------------ StoredToken


def test_stored_token_repr_hides_the_token() -> None:
    token = stored()
    assert TOKEN_TEXT not in repr(token)
    assert TOKEN_TEXT not in str(token)
    assert isinstance(token.access_token, Secret)
    assert token.access_token.reveal() == TOKEN_TEXT


def test_from_token_response_uses_expires_in() -> None:
    response = TokenResponse(access_token=Secret(jwt({"exp": 1})), token_type="bearer", expires_in=3600)
    token = StoredToken.from_token_response(SERVER, response, now=NOW)
    assert token.expires_at == NOW + timedelta(seconds=3600)


def test_from_token_response_falls_back_to_the_exp_claim() -> None:
    exp = int((NOW + timedelta(days=1)).timestamp())
    response = TokenResponse(access_token=Secret(jwt({"exp": exp, "device_id": DEVICE_ID})), token_type="bearer",
                             expires_in=None)
    token = StoredToken.from_token_response(SERVER, response, now=NOW)
    assert token.expires_at == datetime.fromtimestamp(exp, timezone.utc)
    assert token.device_id == DEVICE_ID


def test_from_token_response_without_expiry_never_expires() -> None:
    response = TokenResponse(access_token=Secret(jwt({"sub": "x"})), token_type="bearer", expires_in=None)
    token = StoredToken.from_token_response(SERVER, response, now=NOW)
    assert token.expires_at is None
    assert token.device_id is None
    assert not token.is_expired(NOW + timedelta(days=10_000))


def test_from_token_response_reads_server_id_from_argument_or_iss() -> None:
    response = TokenResponse(access_token=Secret(jwt({"iss": SERVER_ID, "device_id": DEVICE_ID})),
                             token_type="bearer", expires_in=None)
    assert StoredToken.from_token_response(SERVER, response, now=NOW).server_id == SERVER_ID
    other = "11111111-2222-4333-8444-555555555555"
    assert StoredToken.from_token_response(SERVER, response, server_id=other, now=NOW).server_id == other


@pytest.mark.parametrize("claims", [{"device_id": 7}, {"device_id": "not-a-uuid"}, {"exp": "soon"}, {"exp": 10**30},
                                    {"exp": True}])
def test_odd_claims_are_ignored(claims: dict[str, Any]) -> None:
    response = TokenResponse(access_token=Secret(jwt(claims)), token_type="bearer", expires_in=None)
    token = StoredToken.from_token_response(SERVER, response, now=NOW)
    assert token.device_id is None
    assert token.expires_at is None


def test_from_token_response_with_an_opaque_token() -> None:
    response = TokenResponse(access_token=Secret("opaque"), token_type="bearer", expires_in=None)
    token = StoredToken.from_token_response("127.0.0.1:8237/", response, now=NOW)
    assert token.server_url == SERVER
    assert token.device_id is None and token.expires_at is None


def test_is_expired_has_a_thirty_second_leeway() -> None:
    token = stored(expires_at=NOW + timedelta(seconds=60))
    assert not token.is_expired(NOW)
    assert not token.is_expired(NOW + timedelta(seconds=29))
    assert token.is_expired(NOW + timedelta(seconds=30))
    assert token.is_expired(NOW + timedelta(seconds=120))


def test_is_expired_accepts_naive_utc() -> None:
    token = stored(expires_at=NOW + timedelta(seconds=60))
    assert token.is_expired(datetime(2026, 12, 3, 12, 5, 0))
    assert not token.is_expired(datetime(2026, 12, 3, 12, 0, 0))


# ------------------------------------------------------------------ the store, any backend


def make_store(kind: str, tmp_path: Path, use_keyring: Any) -> TokenStore:
    if kind == "keyring":
        use_keyring(MemoryKeyring())
    return open_token_store(tmp_path / "cfg", backend=kind)


@pytest.mark.parametrize("kind", ["memory", "file", "keyring"])
def test_put_get_delete(kind: str, tmp_path: Path, use_keyring: Any) -> None:
    store = make_store(kind, tmp_path, use_keyring)
    assert store.backend == kind
    assert store.get(SERVER) is None
    store.put(stored())
    got = store.get(SERVER)
    assert got == stored()
    assert got.access_token.reveal() == TOKEN_TEXT
    assert store.get(OTHER) is None
    assert store.delete(SERVER) is True
    assert store.get(SERVER) is None
    assert store.delete(SERVER) is False


@pytest.mark.parametrize("kind", ["memory", "file", "keyring"])
def test_keys_are_normalized_server_urls(kind: str, tmp_path: Path, use_keyring: Any) -> None:
    store = make_store(kind, tmp_path, use_keyring)
    store.put(stored(server="127.0.0.1:8237/"))
    assert store.get("HTTP://127.0.0.1:8237/api/v1") is not None
    assert store.get(SERVER).server_url == SERVER
    assert store.delete("http://127.0.0.1:8237/") is True


@pytest.mark.parametrize("kind", ["memory", "file", "keyring"])
def test_expired_tokens_are_not_returned(kind: str, tmp_path: Path, use_keyring: Any) -> None:
    store = make_store(kind, tmp_path, use_keyring)
    store.put(stored(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    store.put(stored(server=OTHER, expires_at=datetime.now(timezone.utc) + timedelta(days=1)))
    assert store.get(SERVER) is None
    assert store.get(OTHER) is not None


@pytest.mark.parametrize("kind", ["memory", "file", "keyring"])
def test_expiry_datetime_round_trips(kind: str, tmp_path: Path, use_keyring: Any) -> None:
    store = make_store(kind, tmp_path, use_keyring)
    when = datetime.now(timezone.utc).replace(microsecond=123456) + timedelta(days=2)
    store.put(stored(expires_at=when))
    assert store.get(SERVER).expires_at == when


def test_store_uses_the_injected_clock_for_expiry(tmp_path: Path) -> None:
    store = TokenStore("memory", now=lambda: NOW)
    store.put(stored(expires_at=NOW + timedelta(seconds=10)))
    assert store.get(SERVER) is None
    store.put(stored(expires_at=NOW + timedelta(hours=1)))
    assert store.get(SERVER) is not None


def test_the_store_repr_hides_tokens(tmp_path: Path) -> None:
    store = TokenStore("memory")
    store.put(stored())
    assert TOKEN_TEXT not in repr(store)
    assert TOKEN_TEXT not in repr(vars(store))


# ------------------------------------------------------------------ file backend


@posix_only
def test_file_is_0600_in_a_0700_dir(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    store = open_token_store(directory, backend="file")
    store.put(stored())
    path = directory / "tokens.json"
    assert mode(path) == 0o600
    assert mode(directory) == 0o700
    data = json.loads(path.read_text())
    assert data["tokens"][SERVER]["access_token"] == TOKEN_TEXT
    leftovers = [p.name for p in directory.iterdir() if p.name not in ("tokens.json", "tokens.json.lock")]
    assert leftovers == []


@posix_only
def test_a_loose_existing_file_is_tightened(tmp_path: Path) -> None:
    store = open_token_store(tmp_path, backend="file")
    store.put(stored())
    (tmp_path / "tokens.json").chmod(0o644)
    assert store.get(SERVER) is not None
    assert mode(tmp_path / "tokens.json") == 0o600


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_token_store(tmp_path, backend="file")
    store.put(stored())
    before = (tmp_path / "tokens.json").read_text()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(TokenStoreError) as info:
        store.put(stored(server=OTHER))
    assert "No space left" in info.value.message
    assert (tmp_path / "tokens.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("junk", ["{not json", "[1, 2]", '{"tokens": []}', '"just a string"', "\x00\xff"])
def test_a_corrupt_file_is_set_aside_with_a_notice(tmp_path: Path, junk: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(junk, encoding="latin-1")
    store = open_token_store(tmp_path, backend="file")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("tokens.json.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_text(encoding="latin-1") == junk  # kept, never deleted
    assert store.notice is not None
    assert str(path) in store.notice and str(aside[0]) in store.notice
    assert store.get(SERVER) is None
    store.put(stored())
    assert store.get(SERVER) is not None


def test_a_file_corrupted_while_running_is_set_aside_on_next_load(tmp_path: Path) -> None:
    store = open_token_store(tmp_path, backend="file")
    store.put(stored())
    assert store.notice is None
    (tmp_path / "tokens.json").write_text("garbage")
    assert store.get(SERVER) is None
    assert store.notice is not None and "corrupt" in store.notice
    store.put(stored(server=OTHER))
    assert store.get(OTHER) is not None
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("tokens.json.corrupt-")]) == 1


def test_a_bad_entry_is_skipped_but_kept(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"version": 1, "tokens": {SERVER: {"access_token": 5}, OTHER: "x"}}))
    store = open_token_store(tmp_path, backend="file")
    assert store.notice is None
    assert store.get(SERVER) is None
    store.put(stored(server="https://third.example.com"))
    data = json.loads(path.read_text())
    assert data["tokens"][SERVER] == {"access_token": 5}  # someone else's (or a newer version's) entry survives


def test_two_instances_writing_alternately_keep_both_servers(tmp_path: Path) -> None:
    a = open_token_store(tmp_path, backend="file")
    b = open_token_store(tmp_path, backend="file")
    servers = [f"https://s{i}.example.com" for i in range(6)]
    for i, server in enumerate(servers):
        (a if i % 2 == 0 else b).put(stored(server=server, token=f"tok-{i}"))
    for store in (a, b):
        for i, server in enumerate(servers):
            assert store.get(server).access_token.reveal() == f"tok-{i}"
    assert a.delete(servers[1]) is True
    b.put(stored(server=servers[0], token="new"))
    assert a.get(servers[1]) is None
    assert a.get(servers[0]).access_token.reveal() == "new"


@posix_only
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from zenml_devices_tui.core.secret import Secret
        from zenml_devices_tui.core.token_store import StoredToken, open_token_store
        directory, tag = Path(sys.argv[1]), sys.argv[2]
        store = open_token_store(directory, backend="file")
        for i in range(25):
            store.put(StoredToken(f"https://{tag}{i}.example.com", Secret(f"{tag}-{i}"), None, None, None))
        """
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), tag], cwd=root, env=env)
             for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = open_token_store(tmp_path, backend="file")
    for tag in ("a", "b"):
        for i in range(25):
            got = store.get(f"https://{tag}{i}.example.com")
            assert got is not None and got.access_token.reveal() == f"{tag}-{i}"


def test_an_unreadable_file_is_an_error_not_a_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_token_store(tmp_path, backend="file")
    store.put(stored())
    real_read = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self.name == "tokens.json":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(TokenStoreError):
        store.get(SERVER)
    monkeypatch.undo()
    assert store.get(SERVER) is not None  # nothing was moved aside


# ------------------------------------------------------------------ keyring backend


def test_keyring_entries_are_json_per_normalized_server(tmp_path: Path, use_keyring: Any) -> None:
    ring = use_keyring(MemoryKeyring())
    store = open_token_store(tmp_path, backend="keyring")
    store.put(stored(server="127.0.0.1:8237"))
    assert list(ring.entries) == [(SERVICE_NAME, SERVER)]
    assert SERVICE_NAME == "zenml-devices"
    entry = json.loads(ring.entries[(SERVICE_NAME, SERVER)])
    assert entry["access_token"] == TOKEN_TEXT
    assert entry["device_id"] == DEVICE_ID
    assert not (tmp_path / "tokens.json").exists()


def test_a_locked_keyring_gives_a_clear_error(tmp_path: Path, use_keyring: Any) -> None:
    ring = use_keyring(MemoryKeyring())
    store = open_token_store(tmp_path, backend="keyring")
    store.put(stored())
    ring.locked = True
    for call in (lambda: store.get(SERVER), lambda: store.put(stored()), lambda: store.delete(SERVER)):
        with pytest.raises(TokenStoreError) as info:
            call()
        assert isinstance(info.value, ZenMLError)
        assert "keyring" in info.value.message.lower()
        assert "ZENML_DEVICES_TOKEN_STORE=file" in info.value.message
        assert TOKEN_TEXT not in info.value.message


def test_a_garbled_keyring_entry_reads_as_missing(tmp_path: Path, use_keyring: Any) -> None:
    ring = use_keyring(MemoryKeyring())
    ring.entries[(SERVICE_NAME, SERVER)] = "not json"
    store = open_token_store(tmp_path, backend="keyring")
    assert store.get(SERVER) is None


# ------------------------------------------------------------------ choosing a backend


def test_a_usable_keyring_is_chosen_by_default(tmp_path: Path, use_keyring: Any) -> None:
    use_keyring(MemoryKeyring())
    store = open_token_store(tmp_path)
    assert store.backend == "keyring"
    assert store.notice is None


@pytest.mark.parametrize("unusable", [fail.Keyring, null.Keyring, EmptyChainer, LowPriorityKeyring])
def test_no_usable_keyring_falls_back_to_the_file_with_a_notice(tmp_path: Path, use_keyring: Any,
                                                              unusable: type) -> None:
    use_keyring(unusable())
    store = open_token_store(tmp_path)
    assert store.backend == "file"
    assert store.notice is not None
    assert str(tmp_path / "tokens.json") in store.notice
    assert "0600" in store.notice
    store.put(stored())
    assert (tmp_path / "tokens.json").exists()


def test_a_chainer_with_a_usable_backend_is_usable(tmp_path: Path, use_keyring: Any) -> None:
    class Chain(chainer.ChainerBackend):
        backends = (MemoryKeyring(), MemoryKeyring())  # type: ignore[assignment]

    use_keyring(Chain())
    assert open_token_store(tmp_path).backend == "keyring"


def test_no_keyring_and_no_writable_dir_falls_back_to_memory(tmp_path: Path, use_keyring: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    use_keyring(fail.Keyring())

    def cannot(path: Path) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ts, "ensure_private_dir", cannot)
    store = open_token_store(tmp_path / "ro")
    assert store.backend == "memory"
    assert store.notice is not None and "memory" in store.notice
    store.put(stored())
    assert store.get(SERVER) is not None


@pytest.mark.parametrize("kind", ["keyring", "file", "memory", " FILE "])
def test_the_env_var_forces_a_backend(tmp_path: Path, use_keyring: Any, monkeypatch: pytest.MonkeyPatch,
                                      kind: str) -> None:
    use_keyring(MemoryKeyring())
    monkeypatch.setenv("ZENML_DEVICES_TOKEN_STORE", kind)
    store = open_token_store(tmp_path)
    assert store.backend == kind.strip().lower()
    assert store.notice is None


def test_the_argument_overrides_the_env_var(tmp_path: Path, use_keyring: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    use_keyring(MemoryKeyring())
    monkeypatch.setenv("ZENML_DEVICES_TOKEN_STORE", "file")
    assert open_token_store(tmp_path, backend="memory").backend == "memory"
    assert not (tmp_path / "tokens.json").exists()


def test_an_unknown_backend_name_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENML_DEVICES_TOKEN_STORE", "vault")
    with pytest.raises(TokenStoreError) as info:
        open_token_store(tmp_path)
    assert "vault" in info.value.message and "keyring" in info.value.message


def test_forcing_an_unusable_keyring_is_an_error(tmp_path: Path, use_keyring: Any) -> None:
    use_keyring(fail.Keyring())
    with pytest.raises(TokenStoreError) as info:
        open_token_store(tmp_path, backend="keyring")
    assert "keyring" in info.value.message.lower()


def test_memory_store_writes_nothing(tmp_path: Path) -> None:
    store = open_token_store(tmp_path / "cfg", backend="memory")
    store.put(stored())
    assert not (tmp_path / "cfg").exists()


def test_the_deferred_store_opens_on_first_use_only_once(tmp_path: Path) -> None:
    from zenml_devices_tui.core.token_store import DeferredTokenStore, TokenStore, deferred_token_store

    opened: list[int] = []

    def opener() -> TokenStore:
        opened.append(1)
        return TokenStore("file", config_dir=tmp_path)

    store = DeferredTokenStore(opener)
    assert opened == []
    store.put(StoredToken("https://a.example.com", Secret("t-1"), None, None, None))
    assert store.get("https://a.example.com/").access_token == Secret("t-1")
    assert store.backend == "file" and store.problems == []
    assert store.delete("https://a.example.com") is True
    assert opened == [1]
    # Without a forced backend the keyring look-up is deferred; a forced one is opened (and checked) at once.
    assert isinstance(deferred_token_store(tmp_path, environ={}), DeferredTokenStore)
    assert isinstance(deferred_token_store(tmp_path, environ={"ZENML_DEVICES_TOKEN_STORE": "file"}), TokenStore)
    with pytest.raises(ZenMLError):
        deferred_token_store(tmp_path, environ={"ZENML_DEVICES_TOKEN_STORE": "vault"})
