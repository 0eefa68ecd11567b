"""The command line: options, URL rules, --logout, and clear messages instead of tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from zenml_devices_tui import __version__, cli
from zenml_devices_tui.core.secret import Secret
from zenml_devices_tui.core.token_store import StoredToken, open_token_store


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ZENML_DEVICES_HOME", str(home))
    monkeypatch.setenv("ZENML_DEVICES_TOKEN_STORE", "file")
    monkeypatch.delenv("ZENML_DEVICES_URL", raising=False)
    return home


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "zenml_devices_tui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"zenml-devices {__version__}"


def test_help_lists_every_option() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--demo", "--refresh", "--read-only", "--ca-cert", "--insecure", "--logout", "--version"):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["http://zenml.example.com", "--logout"], "plain http://"),
        (["ftp://zenml.example.com", "--logout"], "http:// or https://"),
        (["https://", "--logout"], "no host"),
        (["--demo", "https://zenml.example.com"], "leave out the URL"),
        (["https://zenml.example.com", "--ca-cert", "/nonexistent/ca.pem"], "does not exist"),
        (["https://zenml.example.com", "--refresh", "0"], "between 0.5 and 3600"),
        (["https://zenml.example.com", "--refresh", "soon"], "not a number"),
    ],
)
def test_bad_input_is_a_clear_message(args: list[str], needle: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_plain_http_is_accepted_for_loopback() -> None:
    result = run_cli("http://127.0.0.1:8237", "--logout")
    assert result.returncode == 0, result.stderr
    assert "No token stored for http://127.0.0.1:8237" in result.stdout


def test_plain_http_with_insecure_is_accepted() -> None:
    result = run_cli("http://zenml.example.com", "--insecure", "--logout")
    assert result.returncode == 0, result.stderr


def test_logout_removes_the_stored_token(isolated_home: Path) -> None:
    store = open_token_store(isolated_home, backend="file")
    store.put(StoredToken("https://zenml.example.com", Secret("tok-123"), None, None, None))
    store.put(StoredToken("https://other.example.com", Secret("tok-456"), None, None, None))
    result = run_cli("https://zenml.example.com/", "--logout")
    assert result.returncode == 0, result.stderr
    assert "token removed" in result.stdout
    fresh = open_token_store(isolated_home, backend="file")
    assert fresh.get("https://zenml.example.com") is None
    assert fresh.get("https://other.example.com") is not None


def test_logout_uses_the_url_from_the_environment(isolated_home: Path) -> None:
    store = open_token_store(isolated_home, backend="file")
    store.put(StoredToken("https://zenml.example.com", Secret("tok-123"), None, None, None))
    result = run_cli("--logout", env_extra={"ZENML_DEVICES_URL": "zenml.example.com"})
    assert result.returncode == 0, result.stderr
    assert open_token_store(isolated_home, backend="file").get("https://zenml.example.com") is None


def test_broken_config_toml_is_a_message(isolated_home: Path) -> None:
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("[keymap\nlock = 'x'\n")
    result = run_cli("https://zenml.example.com", "--logout")
    assert result.returncode == 2
    assert "config.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_returns_an_exit_code_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["https://zenml.example.com", "--logout"]) == 0
    assert "No token stored" in capsys.readouterr().out
