"""The words of the sign-in screen, as ``rich.text.Text`` built from data (never markup).

Everything the server sends (name, version, link, user code, error text) goes into
``Text`` objects as plain strings, cleaned of control characters first, so a server
cannot inject markup, escape sequences or a fake link.
"""

from __future__ import annotations

import math

from rich.style import Style
from rich.text import Text

from zenml_devices_tui.core.models import ServerInfo
from zenml_devices_tui.core.text import clean, clean_line

LABEL = "bold"
DEVICE_LOGIN_SCHEME = "OAUTH2_PASSWORD_BEARER"


def seconds_left(deadline: float | None, now: float) -> int | None:
    """Whole seconds until ``deadline`` (rounded up, never negative); None without a deadline."""
    if deadline is None:
        return None
    return max(0, math.ceil(deadline - now - 1e-9))


def format_duration(seconds: int) -> str:
    """``75`` → ``1:15``; under a minute → ``42 s``."""
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def group_code(code: str, size: int = 4) -> str:
    """Display-only grouping of a user code ("edc6b609…" → "edc6 b609 …"). Short codes stay as they are."""
    code = clean(code)
    if len(code) <= 8 or any(ch.isspace() for ch in code):
        return code
    return " ".join(code[i : i + size] for i in range(0, len(code), size))


def server_text(info: ServerInfo | None, url: str, *, insecure: bool = False) -> Text:
    """Server name and version on one line, its URL on the next (flagged when TLS is not verified)."""
    text = Text()
    text.append("Server        ", style=LABEL)
    if info is None:
        text.append("(not reached yet)", style="dim")
    else:
        text.append(clean_line(info.name, limit=80))
        text.append("  ·  ZenML ", style="dim")
        text.append(clean_line(info.version, limit=40))
    text.append("\n              ")
    text.append(clean(url))
    if insecure:
        text.append("  ⚠ TLS not verified (--insecure)", style="bold")
    return text


def machine_text(hostname: str) -> Text:
    text = Text()
    text.append("This machine  ", style=LABEL)
    text.append(clean_line(hostname, limit=120) or "unknown")
    text.append("  (the name the approver sees)", style="dim")
    return text


def link_text(url: str) -> Text:
    """The whole link, an OSC 8 hyperlink, folded (never cut) when it is wider than the screen."""
    url = clean(url)
    return Text(url, style=Style(link=url, underline=True, bold=True), overflow="fold")


def code_text(user_code: str) -> Text:
    text = Text()
    text.append("Code          ", style=LABEL)
    text.append(group_code(user_code), style="bold")
    return text


def host_warning_text(link_url: str, server_url: str) -> Text:
    from urllib.parse import urlsplit

    link_host = urlsplit(link_url).hostname or "?"
    server_host = urlsplit(server_url).hostname or "?"
    text = Text()
    text.append("⚠ Warning: ", style="bold")
    text.append("this link goes to ")
    text.append(clean(link_host), style="bold")
    text.append(", not to the server you connected to (")
    text.append(clean(server_host), style="bold")
    text.append("). Only approve it if you trust that host: a relaying server could be phishing.")
    return text


def unsupported_text(info: ServerInfo | None, refused: str | None = None) -> Text:
    scheme = clean_line(info.auth_scheme, limit=60) if info and info.auth_scheme else "unknown"
    name = clean_line(info.name, limit=80) if info else "This server"
    text = Text()
    text.append("This server does not support device login. ", style="bold")
    if refused:
        text.append("The server refused it: ")
        text.append(clean_line(refused, limit=200))
        text.append(" ")
    text.append(name)
    text.append(" uses the auth scheme ")
    text.append(scheme, style="bold")
    text.append("; device login needs ")
    text.append(DEVICE_LOGIN_SCHEME, style="bold")
    text.append(
        " (the default for ZenML servers). Ask the server's admin, press s to use another server, "
        "or r to check again."
    )
    return text


def countdown_text(left: int | None) -> Text:
    text = Text()
    if left is None:
        return text
    text.append("Expires in    ", style=LABEL)
    text.append(format_duration(left), style="bold")
    return text
