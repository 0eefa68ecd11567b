"""The token file and ``--logout``: private, atomic, never silently lost, removable from every backend.

* ``tokens.json`` is 0600 in a 0700 directory, also after the real command ran;
* killing a writer (SIGKILL) at random points never leaves a broken file: it always parses
  as the old content or the new, and the other servers' tokens survive;
* a corrupt file is reported (to the user, in the app) and set aside, never deleted;
* two processes signing in to two servers at once keep both tokens;
* ``zenml-devices URL --logout`` removes the token from the keyring (a fake keyring backend
  installed with ``PYTHON_KEYRING_BACKEND``) and from the file, whichever holds it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import stat
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.faults import FAKE_KEYRING_ENV, PYTHON, REPO_ROOT, app_env
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.token_store import SERVICE_NAME, TOKENS_FILE, StoredToken, TokenStore, open_token_store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions, flock and signals")

SERVER_A = "http://127.0.0.1:18001"
SERVER_B = "https://zenml.example.com"
KEYRING_BACKEND = "tests.faults.FileKeyring"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def token(server: str, value: str) -> StoredToken:
    return StoredToken(server_url=server, access_token=Secret(value), expires_at=None, device_id=None, server_id=None)


def read_tokens(directory: Path) -> dict[str, str]:
    data = json.loads((directory / TOKENS_FILE).read_text())
    assert data["version"] == 1
    return {url: entry["access_token"] for url, entry in data["tokens"].items()}


def run_cli(args: list[str], env: dict[str, str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "zenml_devices_tui", *args], env=env, capture_output=True, text=True, timeout=timeout,
        cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------- modes


def test_file_is_0600_in_a_0700_dir_even_when_the_dir_was_loose(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    (home / TOKENS_FILE).write_text(json.dumps({"version": 1, "tokens": {}}))
    os.chmod(home / TOKENS_FILE, 0o644)

    store = open_token_store(home, backend="file")
    store.put(token(SERVER_A, "secret-a"))

    assert mode(home) == 0o700
    assert mode(home / TOKENS_FILE) == 0o600
    for extra in home.iterdir():  # the lock file and anything else it made: private too
        assert mode(extra) & 0o077 == 0, extra


def test_the_command_creates_a_private_config_dir(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "zenml-devices"
    env = app_env(home, ZENML_DEVICES_TOKEN_STORE="file")
    result = run_cli([SERVER_A, "--logout"], env)
    assert result.returncode == 0, result.stderr
    assert "No token stored" in result.stdout
    assert mode(home) == 0o700


# --------------------------------------------------------------------------- atomic writes under SIGKILL

_WRITER = textwrap.dedent(
    """
    import itertools, os, sys
    from pathlib import Path
    from zenml_devices_tui.core.secret import Secret
    from zenml_devices_tui.core.token_store import StoredToken, TokenStore

    store = TokenStore("file", config_dir=Path(sys.argv[1]))
    pad = "p" * 200_000  # a large entry widens the window in which a torn write could show
    os.write(1, b"ready\\n")
    for i in itertools.count(int(sys.argv[2])):
        store.put(StoredToken(sys.argv[3], Secret(f"tok-{i:09d}-" + pad), None, None, None))
        os.write(1, f"{i}\\n".encode())
    """
)
_TOKEN_RE = re.compile(r"^tok-(\d{9})-p{200000}$")


def test_sigkill_during_writes_never_leaves_a_broken_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = TokenStore("file", config_dir=home)
    store.put(token(SERVER_B, "the-other-servers-token"))
    store.put(token(SERVER_A, f"tok-{0:09d}-" + "p" * 200_000))
    rng = random.Random(8628)
    env = app_env(home)
    last_seen = 0
    kills = 0
    mid_write = 0
    start = 1
    for _ in range(12):
        proc = subprocess.Popen([PYTHON, "-c", _WRITER, str(home), str(start), SERVER_A], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n", proc.stderr.read() if proc.stderr else ""
            # Several random kill points per process: stop it, look, let it go on, kill at last.
            for _ in range(4):
                time.sleep(rng.uniform(0.0, 0.03))
                os.kill(proc.pid, signal.SIGSTOP)
                temp_files = list(home.glob(f".{TOKENS_FILE}.*.tmp"))
                mid_write += bool(temp_files)
                last_seen = _check_file(home, last_seen)
                os.kill(proc.pid, signal.SIGCONT)
            time.sleep(rng.uniform(0.0, 0.03))
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        last_seen = _check_file(home, last_seen)
        for temp in home.glob(f".{TOKENS_FILE}.*.tmp"):  # left by a kill mid-write: private, never the file
            mid_write += 1
            assert mode(temp) == 0o600
            temp.unlink()
        start = last_seen + 1_000_000  # the next writer's values are all newer than anything seen

    assert kills == 12
    assert mid_write > 0, "no kill or pause ever landed in the middle of a write: the test proves nothing"
    # And the store itself still reads it, with no "corrupt" notice.
    reopened = open_token_store(home, backend="file")
    assert reopened.notice is None
    assert reopened.get(SERVER_B) is not None and reopened.get(SERVER_A) is not None
    assert not list(home.glob(f"{TOKENS_FILE}.corrupt-*"))


def _check_file(home: Path, last_seen: int) -> int:
    """The file parses, holds both servers, and A's token is the old one or a newer one."""
    tokens = read_tokens(home)
    assert tokens[SERVER_B] == "the-other-servers-token"
    match = _TOKEN_RE.match(tokens[SERVER_A])
    assert match, tokens[SERVER_A][:40]
    value = int(match.group(1))
    assert value >= last_seen, "the file went back to an older token"
    return value


# --------------------------------------------------------------------------- corrupt file


@pytest.mark.parametrize("junk", [b"{\"version\": 1, \"tokens\": {\"http://x\": ", b"\x00\xff garbage", b"[]"])
async def test_a_corrupt_file_is_reported_in_the_app_and_set_aside(tmp_path: Path, junk: bytes) -> None:
    from tests.uihelpers import make_harness
    from zenml_devices_tui.ui.app import DevicesApp

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / TOKENS_FILE).write_bytes(junk)
    harness = make_harness(tmp_path)
    harness.context.token_store = open_token_store(home, backend="file")

    app = DevicesApp(harness.context)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("corrupt" in m and str(home / TOKENS_FILE) in m and "Sign in again" in m for m in messages), messages

    aside = list(home.glob(f"{TOKENS_FILE}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == junk  # kept, byte for byte
    assert not (home / TOKENS_FILE).exists() or read_tokens(home) == {}
    # A new token can be saved afterwards.
    harness.context.token_store.put(token(SERVER_A, "fresh"))
    assert read_tokens(home) == {SERVER_A: "fresh"}


# --------------------------------------------------------------------------- two instances at once

_SIGNER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from zenml_devices_tui.core.secret import Secret
    from zenml_devices_tui.core.token_store import StoredToken, open_token_store

    home, server, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    store = open_token_store(home, backend="file")  # opened before the other instance writes anything
    while not go.exists():
        time.sleep(0.005)
    for i in range(40):
        store.put(StoredToken(server, Secret(f"{server}-token-{i}"), None, None, None))
    print("done", flush=True)
    """
)


def test_two_instances_for_two_servers_keep_both_tokens(tmp_path: Path) -> None:
    home = tmp_path / "home"
    go = tmp_path / "go"
    env = app_env(home)
    procs = [
        subprocess.Popen([PYTHON, "-c", _SIGNER, str(home), server, str(go)], env=env, cwd=REPO_ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for server in (SERVER_A, SERVER_B)
    ]
    time.sleep(0.3)  # both have opened their store (a race here only makes the test weaker, never flaky)
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "done", err
    assert read_tokens(home) == {SERVER_A: f"{SERVER_A}-token-39", SERVER_B: f"{SERVER_B}-token-39"}
    assert mode(home / TOKENS_FILE) == 0o600


# --------------------------------------------------------------------------- --logout


def _keyring_env(home: Path, keyring_file: Path, **extra: str) -> dict[str, str]:
    return app_env(home, PYTHON_KEYRING_BACKEND=KEYRING_BACKEND, **{FAKE_KEYRING_ENV: str(keyring_file)}, **extra)


def _keyring_entries(keyring_file: Path) -> dict[str, str]:
    return json.loads(keyring_file.read_text()) if keyring_file.exists() else {}


def test_logout_removes_the_token_from_the_keyring(tmp_path: Path) -> None:
    home, ring = tmp_path / "home", tmp_path / "keyring.json"
    entry = json.dumps({"server_url": SERVER_A, "access_token": "keyring-secret", "expires_at": None})
    ring.write_text(json.dumps({f"{SERVICE_NAME}\0{SERVER_A}": entry, f"{SERVICE_NAME}\0{SERVER_B}": entry}))

    result = run_cli([SERVER_A + "/", "--logout"], _keyring_env(home, ring))

    assert result.returncode == 0, result.stderr
    assert "keyring" in result.stdout and SERVER_A in result.stdout
    assert list(_keyring_entries(ring)) == [f"{SERVICE_NAME}\0{SERVER_B}"]  # only that server's entry went
    assert "keyring-secret" not in result.stdout + result.stderr
    assert not (home / TOKENS_FILE).exists()


def test_logout_removes_the_token_from_the_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = TokenStore("file", config_dir=home)
    store.put(token(SERVER_A, "file-secret-a"))
    store.put(token(SERVER_B, "file-secret-b"))

    result = run_cli([SERVER_A, "--logout"], app_env(home, ZENML_DEVICES_TOKEN_STORE="file"))

    assert result.returncode == 0, result.stderr
    assert "file" in result.stdout
    assert read_tokens(home) == {SERVER_B: "file-secret-b"}
    assert mode(home / TOKENS_FILE) == 0o600
    assert "file-secret" not in result.stdout + result.stderr


def test_logout_finds_a_file_token_when_a_keyring_is_now_usable(tmp_path: Path) -> None:
    """Saved to the file on a box without a keyring; a keyring appeared since. --logout must still remove it."""
    home, ring = tmp_path / "home", tmp_path / "keyring.json"
    TokenStore("file", config_dir=home).put(token(SERVER_A, "file-secret-a"))
    ring.write_text("{}")

    result = run_cli([SERVER_A, "--logout"], _keyring_env(home, ring))

    assert result.returncode == 0, result.stderr
    assert read_tokens(home) == {}, result.stdout
    assert "file" in result.stdout


def test_logout_finds_a_keyring_token_when_the_file_store_is_forced(tmp_path: Path) -> None:
    home, ring = tmp_path / "home", tmp_path / "keyring.json"
    entry = json.dumps({"server_url": SERVER_A, "access_token": "keyring-secret", "expires_at": None})
    ring.write_text(json.dumps({f"{SERVICE_NAME}\0{SERVER_A}": entry}))

    result = run_cli([SERVER_A, "--logout"], _keyring_env(home, ring, ZENML_DEVICES_TOKEN_STORE="file"))

    assert result.returncode == 0, result.stderr
    assert _keyring_entries(ring) == {}, result.stdout
    assert "keyring" in result.stdout
