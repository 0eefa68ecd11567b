"""User settings (``config.toml``, written by people) and app state (``state.json``, written by the app).

``config.toml``::

    theme = "ansi-dark"     # any Textual theme name
    refresh = 5             # seconds between device-list refreshes (0.5 to 3600)

    [keymap]                # binding id = keys, as Textual's App.set_keymap takes them
    lock = "L"

Unknown keys are ignored, so a newer config file still works with an older app. A
malformed file is a :class:`ConfigError` whose message is one line naming the file and
the line, fit for the CLI to print.

``state.json`` keeps the last server and up to :data:`MAX_RECENT` recent ones. It is a
convenience only: if it is unreadable it counts as empty and is rewritten.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from zenml_devices_tui.core.errors import BadConfiguration, ZenMLError
from zenml_devices_tui.core.paths import atomic_write, ensure_private_dir, file_lock
from zenml_devices_tui.core.urls import normalize_server_url

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover
    import tomli as _toml

CONFIG_FILE = "config.toml"
STATE_FILE = "state.json"
MAX_RECENT = 8
MIN_REFRESH = 0.5
MAX_REFRESH = 3600.0


class ConfigError(BadConfiguration):
    """``config.toml`` cannot be used. ``message`` is one line with the path and what is wrong."""


@dataclass(frozen=True)
class AppConfig:
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    refresh: float | None = None


def load_config(config_dir: Path) -> AppConfig:
    """Read ``<config_dir>/config.toml``; a missing file gives the defaults."""
    path = Path(config_dir) / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return AppConfig()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    try:
        data = _toml.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text.") from None
    except _toml.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _parse(path, data)


def _parse(path: Path, data: dict[str, Any]) -> AppConfig:
    def bad(what: str) -> ConfigError:
        return ConfigError(f"{path}: {what}")

    theme = data.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme.strip()):
        raise bad('theme must be a theme name in quotes, e.g. theme = "ansi-dark".')

    refresh = data.get("refresh")
    if refresh is not None:
        if isinstance(refresh, bool) or not isinstance(refresh, (int, float)):
            raise bad("refresh must be a number of seconds, e.g. refresh = 5.")
        if not (MIN_REFRESH <= refresh <= MAX_REFRESH):
            raise bad(f"refresh must be between {MIN_REFRESH} and {MAX_REFRESH:.0f} seconds, not {refresh}.")
        refresh = float(refresh)

    keymap_raw = data.get("keymap", {})
    if not isinstance(keymap_raw, dict):
        raise bad('keymap must be a table: a [keymap] section with lines like lock = "L".')
    keymap: dict[str, str] = {}
    for binding_id, keys in keymap_raw.items():
        if not isinstance(keys, str) or not keys.strip():
            raise bad(f'[keymap] {binding_id} must be keys in quotes, e.g. {binding_id} = "x".')
        keymap[binding_id] = keys.strip()

    return AppConfig(keymap=keymap, theme=theme.strip() if theme else None, refresh=refresh)


# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class AppState:
    last_server: str | None = None
    recent_servers: tuple[str, ...] = ()
    notices_shown: tuple[str, ...] = ()


def load_state(config_dir: Path) -> AppState:
    """Read ``state.json``; missing or unreadable means empty. Entries that are not server URLs are skipped."""
    path = Path(config_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return AppState()
    if not isinstance(data, dict):
        return AppState()
    recent = _dedupe(data.get("recent_servers") if isinstance(data.get("recent_servers"), list) else [])
    last = _normalized(data.get("last_server"))
    if last is None:
        last = recent[0] if recent else None
    shown = data.get("notices_shown")
    notices = tuple(x for x in shown if isinstance(x, str)) if isinstance(shown, list) else ()
    return AppState(last_server=last, recent_servers=tuple(recent[:MAX_RECENT]), notices_shown=notices)


def remember_server(config_dir: Path, url: str) -> AppState:
    """Make ``url`` the last server and first of the recent ones. Raises for a bad URL or ``OSError``."""
    url = normalize_server_url(url)

    def change(old: AppState) -> AppState:
        recent = _dedupe([url, *old.recent_servers])[:MAX_RECENT]
        return AppState(last_server=url, recent_servers=tuple(recent), notices_shown=old.notices_shown)

    return _update_state(config_dir, change)


def first_time(config_dir: Path, notice_key: str) -> bool:
    """True the first time it is asked for ``notice_key`` (then remembered): for notes said once."""
    result = False

    def change(old: AppState) -> AppState:
        nonlocal result
        if notice_key in old.notices_shown:
            return old
        result = True
        return AppState(old.last_server, old.recent_servers, (*old.notices_shown, notice_key))

    _update_state(config_dir, change)
    return result


def _update_state(config_dir: Path, change: Callable[[AppState], AppState]) -> AppState:
    directory = ensure_private_dir(Path(config_dir))
    with file_lock(directory / (STATE_FILE + ".lock")):
        old = load_state(directory)
        state = change(old)
        if state != old:
            payload = {
                "last_server": state.last_server,
                "recent_servers": list(state.recent_servers),
                "notices_shown": list(state.notices_shown),
            }
            atomic_write(directory / STATE_FILE, json.dumps(payload, indent=2) + "\n")
    return state


def _normalized(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return normalize_server_url(value)
    except ZenMLError:
        return None


def _dedupe(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        url = _normalized(value)
        if url is not None and url not in out:
            out.append(url)
    return out
