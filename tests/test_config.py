"""Config dir, config.toml, state.json, the client id, the User-Agent and JWT claims."""

from __future__ import annotations

import base64
import json
import os
import platform
import stat
import sys
import uuid
from pathlib import Path

import pytest

from zenml_devices_tui.core import config as config_mod
from zenml_devices_tui.core.config import (
    MAX_RECENT,
    AppConfig,
    AppState,
    ConfigError,
    load_config,
    load_state,
    remember_server,
)
from zenml_devices_tui.core.errors import ZenMLError
from zenml_devices_tui.core.identity import get_or_create_client_id
from zenml_devices_tui.core.jwt import decode_claims
from zenml_devices_tui.core.paths import atomic_write, config_dir, ensure_private_dir
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.useragent import build_user_agent

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------ paths


def test_config_dir_home_override_wins(tmp_path: Path) -> None:
    env = {"ZENML_DEVICES_HOME": str(tmp_path / "mine"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert config_dir(env) == tmp_path / "mine"


def test_config_dir_home_override_expands_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir({"ZENML_DEVICES_HOME": "~/zd"}) == tmp_path / "zd"


def test_config_dir_uses_xdg_config_home(tmp_path: Path) -> None:
    assert config_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "zenml-devices"


def test_config_dir_ignores_a_relative_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir({"XDG_CONFIG_HOME": "relative/dir"}) == tmp_path / ".config" / "zenml-devices"


def test_config_dir_defaults_to_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir({}) == tmp_path / ".config" / "zenml-devices"
    assert config_dir({"ZENML_DEVICES_HOME": "", "XDG_CONFIG_HOME": ""}) == tmp_path / ".config" / "zenml-devices"


def test_config_dir_reads_the_real_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENML_DEVICES_HOME", str(tmp_path / "env"))
    assert config_dir() == tmp_path / "env"


@posix_only
def test_ensure_private_dir_creates_0700(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert ensure_private_dir(target) == target
    assert target.is_dir()
    assert mode(target) == 0o700


@posix_only
def test_ensure_private_dir_tightens_a_loose_dir(tmp_path: Path) -> None:
    target = tmp_path / "loose"
    target.mkdir()
    target.chmod(0o755)
    ensure_private_dir(target)
    assert mode(target) == 0o700


@posix_only
def test_atomic_write_is_0600_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    atomic_write(target, "old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


# ------------------------------------------------------------------ config.toml


def test_missing_config_gives_defaults(tmp_path: Path) -> None:
    cfg = load_config(tmp_path)
    assert cfg == AppConfig()
    assert cfg.keymap == {} and cfg.theme is None and cfg.refresh is None


def test_config_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'theme = "ansi-dark"\nrefresh = 2.5\n\n[keymap]\nlock = "L"\nquit = "q,ctrl+q"\n', encoding="utf-8"
    )
    cfg = load_config(tmp_path)
    assert cfg.theme == "ansi-dark"
    assert cfg.refresh == 2.5
    assert cfg.keymap == {"lock": "L", "quit": "q,ctrl+q"}


def test_integer_refresh_becomes_float(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("refresh = 10\n")
    assert load_config(tmp_path).refresh == 10.0


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('future_setting = true\n[other]\nx = 1\n')
    assert load_config(tmp_path) == AppConfig()


def test_malformed_toml_is_a_one_line_error_with_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "ansi-dark"\nrefresh = \n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "line 2" in message
    assert "Traceback" not in message
    assert isinstance(info.value, ZenMLError)


def test_non_utf8_config_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b'theme = "\xff\xfe"\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "config.toml" in str(info.value)


@pytest.mark.parametrize(
    "text, word",
    [
        ("theme = 3\n", "theme"),
        ('refresh = "fast"\n', "refresh"),
        ("refresh = true\n", "refresh"),
        ("refresh = 0.1\n", "refresh"),
        ("refresh = 99999\n", "refresh"),
        ('keymap = "q"\n', "keymap"),
        ("[keymap]\nquit = 1\n", "quit"),
        ('[keymap]\nquit = ""\n', "quit"),
    ],
)
def test_wrong_types_are_config_errors(tmp_path: Path, text: str, word: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert word in str(info.value)
    assert "config.toml" in str(info.value)


def test_a_config_toml_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").mkdir()
    with pytest.raises(ConfigError):
        load_config(tmp_path)


# ------------------------------------------------------------------ state.json


def test_state_starts_empty(tmp_path: Path) -> None:
    assert load_state(tmp_path) == AppState(last_server=None, recent_servers=())


def test_remember_server_normalizes_and_puts_the_latest_first(tmp_path: Path) -> None:
    remember_server(tmp_path, "127.0.0.1:8237")
    remember_server(tmp_path, "https://zenml.example.com/")
    state = load_state(tmp_path)
    assert state.last_server == "https://zenml.example.com"
    assert state.recent_servers == ("https://zenml.example.com", "http://127.0.0.1:8237")


def test_remember_server_dedupes_by_normalized_url(tmp_path: Path) -> None:
    remember_server(tmp_path, "http://127.0.0.1:8237")
    remember_server(tmp_path, "https://zenml.example.com")
    state = remember_server(tmp_path, "HTTP://127.0.0.1:8237/api/v1/")
    assert state.recent_servers == ("http://127.0.0.1:8237", "https://zenml.example.com")
    assert load_state(tmp_path) == state


def test_remember_server_keeps_at_most_eight(tmp_path: Path) -> None:
    for i in range(12):
        remember_server(tmp_path, f"https://s{i}.example.com")
    state = load_state(tmp_path)
    assert MAX_RECENT == 8
    assert len(state.recent_servers) == 8
    assert state.recent_servers[0] == "https://s11.example.com"
    assert state.recent_servers[-1] == "https://s4.example.com"


@posix_only
def test_state_file_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    remember_server(directory, "https://zenml.example.com")
    assert mode(directory / "state.json") == 0o600
    assert mode(directory) == 0o700


def test_corrupt_state_is_treated_as_empty_and_rewritten(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{broken")
    assert load_state(tmp_path) == AppState()
    remember_server(tmp_path, "https://a.example.com")
    assert json.loads((tmp_path / "state.json").read_text())["last_server"] == "https://a.example.com"


def test_state_skips_entries_that_are_not_urls(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(
        json.dumps({"last_server": 42, "recent_servers": ["ftp://x", 7, "https://ok.example.com", None]})
    )
    state = load_state(tmp_path)
    assert state.recent_servers == ("https://ok.example.com",)
    assert state.last_server == "https://ok.example.com"


def test_remember_server_rejects_a_bad_url(tmp_path: Path) -> None:
    with pytest.raises(ZenMLError):
        remember_server(tmp_path, "ftp://nope")
    assert not (tmp_path / "state.json").exists()


# ------------------------------------------------------------------ client id


def test_client_id_is_a_uuid4_created_once(tmp_path: Path) -> None:
    first = get_or_create_client_id(tmp_path)
    assert uuid.UUID(first).version == 4
    assert get_or_create_client_id(tmp_path) == first
    assert (tmp_path / "client_id").read_text().strip() == first


def test_client_id_differs_between_config_dirs(tmp_path: Path) -> None:
    assert get_or_create_client_id(tmp_path / "a") != get_or_create_client_id(tmp_path / "b")


def test_client_id_is_not_zenmls_user_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zenml_dir = tmp_path / "zenml"
    zenml_dir.mkdir()
    zenml_id = "9f0c0ad6-2f6c-4c57-8d8a-3c3a1c1f5b11"
    (zenml_dir / "config.yaml").write_text(f"user_id: {zenml_id}\n")
    monkeypatch.setenv("ZENML_CONFIG_PATH", str(zenml_dir))
    assert get_or_create_client_id(tmp_path / "ours") != zenml_id


@pytest.mark.parametrize("junk", ["", "not-a-uuid\n", "\x00\x01", "1234"])
def test_a_corrupt_client_id_is_replaced_and_kept_aside(tmp_path: Path, junk: str) -> None:
    (tmp_path / "client_id").write_text(junk)
    new = get_or_create_client_id(tmp_path)
    assert uuid.UUID(new).version == 4
    assert (tmp_path / "client_id").read_text().strip() == new
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("client_id.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_text() == junk


def test_an_unwritable_config_dir_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zenml_devices_tui.core import identity

    def denied(path: Path) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(identity, "ensure_private_dir", denied)
    with pytest.raises(ZenMLError) as info:
        get_or_create_client_id(tmp_path / "ro")
    assert str(tmp_path / "ro" / "client_id") in info.value.message
    assert "Permission denied" in info.value.message and "\n" not in info.value.message


def test_an_existing_uuid_is_kept_in_canonical_form(tmp_path: Path) -> None:
    value = "0B5CD299-2F6E-4D53-9A3C-0E8F1C7D2A11"
    (tmp_path / "client_id").write_text(value + "\n")
    assert get_or_create_client_id(tmp_path) == value.lower()


# ------------------------------------------------------------------ User-Agent


def test_user_agent_has_the_four_tokens_the_server_reads() -> None:
    ua = build_user_agent("0.98.0", hostname="box")
    py = platform.python_version()
    assert ua == f"Host/box ZenML/0.98.0 Python/{py} OS/{platform.system() or 'unknown'}"


def test_user_agent_values_have_no_spaces_or_control_characters() -> None:
    ua = build_user_agent("0.98 beta\t1", hostname="My Mac\x1b[31m Book\n")
    tokens = ua.split(" ")
    assert len(tokens) == 4
    assert tokens[0] == "Host/My-Mac[31m-Book"
    assert tokens[1] == "ZenML/0.98-beta-1"
    assert all(ch.isprintable() and not ch.isspace() for ch in "".join(tokens))


@pytest.mark.parametrize("empty", ["", "   ", "\x00\x07"])
def test_empty_values_become_unknown(empty: str) -> None:
    ua = build_user_agent(empty, hostname=empty)
    assert ua.startswith("Host/unknown ZenML/unknown ")


def test_user_agent_is_ascii_so_httpx_can_send_it() -> None:
    ua = build_user_agent("0.98.0", hostname="Jörgs-MacBook-日本")
    ua.encode("ascii")
    assert ua.split(" ")[0] == "Host/Jorgs-MacBook"


def test_zenml_version_comes_from_metadata_without_importing_zenml(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata as md

    asked = []

    def fake_version(name: str) -> str:
        asked.append(name)
        if name == "zenml":
            return "0.98.0"
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "version", fake_version)
    assert " ZenML/0.98.0 " in build_user_agent(hostname="h")
    assert asked == ["zenml"]
    assert "zenml" not in sys.modules


def test_zenml_version_unknown_when_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata as md

    def missing(name: str) -> str:
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "version", missing)
    assert " ZenML/unknown " in build_user_agent(hostname="h")


def test_default_hostname_is_platform_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "node", lambda: "node-from-platform")
    assert build_user_agent("1").startswith("Host/node-from-platform ")


# ------------------------------------------------------------------ JWT claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: object, header: object = None) -> str:
    head = _b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(b'signature')}"


def test_decode_claims_reads_the_payload() -> None:
    claims = {"sub": "u", "iss": "s", "device_id": "32112074-6bcb-42c0-9e83-162f9a6b470d", "exp": 1_800_000_000,
              "name": "日本?>>"}
    assert decode_claims(make_jwt(claims)) == claims


def test_decode_claims_accepts_a_secret() -> None:
    assert decode_claims(Secret(make_jwt({"a": 1}))) == {"a": 1}


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "x.!!!!.y",
        f"x.{_b64(b'not json')}.y",
        f"x.{_b64(b'[1, 2]')}.y",
        f"x.{_b64(b'null')}.y",
        f"x.{_b64(bytes([0xff, 0xfe]))}.y",
        "x." + "A" * 5 + ".y",
        None,
        42,
        b"bytes.are.not",
        "x." + "e" * 300_000 + ".y",
    ],
)
def test_decode_claims_returns_empty_on_anything_malformed(bad: object) -> None:
    assert decode_claims(bad) == {}  # type: ignore[arg-type]


def test_decode_claims_rejects_standard_base64_alphabet() -> None:
    # '+' and '/' are not in the base64url alphabet; a token with them is not a JWT
    raw = json.dumps({"k": "~~~???>>>"}).encode()
    good = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert decode_claims(f"x.{good}.y") == {"k": "~~~???>>>"}
    bad = base64.b64encode(raw).decode().rstrip("=")
    assert "+" in bad and "/" in bad
    assert decode_claims(f"x.{bad}.y") == {}


def test_config_module_imports_tomllib_or_tomli() -> None:
    assert config_mod._toml.__name__ in ("tomllib", "tomli")


def test_first_time_is_true_once_per_key_and_keeps_the_servers(tmp_path: Path) -> None:
    from zenml_devices_tui.core.config import first_time, load_state, remember_server

    remember_server(tmp_path, "https://a.example.com")
    assert first_time(tmp_path, "token-store-fallback") is True
    assert first_time(tmp_path, "token-store-fallback") is False
    assert first_time(tmp_path, "another") is True
    remember_server(tmp_path, "https://b.example.com")
    state = load_state(tmp_path)
    assert state.notices_shown == ("token-store-fallback", "another")
    assert state.recent_servers == ("https://b.example.com", "https://a.example.com")
