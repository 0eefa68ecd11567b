"""The layering rules: the core imports no Textual, and --help / --version import no UI."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import zenml_devices_tui
import zenml_devices_tui.core

ROOT = Path(zenml_devices_tui.__file__).parent


def _core_modules() -> list[str]:
    return sorted(
        f"zenml_devices_tui.core.{m.name}" for m in pkgutil.iter_modules(zenml_devices_tui.core.__path__)
    )


def _run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout


def test_core_has_the_expected_modules() -> None:
    names = {m.rsplit(".", 1)[1] for m in _core_modules()}
    assert {"client", "device_flow", "token_store", "models", "errors", "paths", "config"} <= names


def test_importing_every_core_module_leaves_textual_unloaded() -> None:
    modules = _core_modules()
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))))\n"
    )
    loaded = json.loads(_run_python(code))
    assert loaded == []


def test_demo_server_imports_no_textual() -> None:
    code = (
        "import sys, zenml_devices_tui.demo.server\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))\n"
    )
    assert _run_python(code).strip() == "False"


def test_help_and_version_import_no_textual_and_no_httpx() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from zenml_devices_tui import cli\n"
        "for argv in (['--help'], ['--version']):\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        try:\n"
        "            cli.main(argv)\n"
        "        except SystemExit as exc:\n"
        "            assert exc.code == 0, exc.code\n"
        "    assert 'zenml-devices' in buf.getvalue()\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('textual', 'httpx', 'keyring')]\n"
        "print(sorted(heavy))\n"
    )
    assert _run_python(code).strip() == "[]"


def test_no_widget_module_talks_to_the_server() -> None:
    """Widgets draw; screens' workers fetch. No widget imports the client."""
    for path in (ROOT / "ui" / "widgets").glob("*.py"):
        text = path.read_text()
        assert "core.client" not in text and "httpx" not in text, path.name
