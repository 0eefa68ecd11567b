"""Server URLs and verification links: normalising, checking and repairing them."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from zenml_devices_tui.core.errors import BadConfiguration, BadResponse
from zenml_devices_tui.core.text import clean

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def normalize_server_url(url: str) -> str:
    """``Host:port`` → ``https://host:port``; lower-case scheme and host; no trailing slash, query or fragment.

    A path prefix (a server behind a reverse proxy at ``/zenml``) is kept.
    """
    if not isinstance(url, str) or not url.strip():
        raise BadConfiguration("The server URL is empty.")
    text = url.strip()
    if any(ch.isspace() for ch in text) or clean(text) != text:
        raise BadConfiguration(f"The server URL {clean(text)!r} contains spaces or control characters.")
    if not _SCHEME.match(text):
        text = ("http://" if _is_loopback_host(text.split("/")[0].rsplit(":", 1)[0]) else "https://") + text
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" (urllib: "Invalid IPv6 URL")
        raise BadConfiguration(f"The server URL {clean(text)!r} is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadConfiguration(f"The server URL must start with http:// or https://, not {scheme}://.")
    if not hostname:
        raise BadConfiguration(f"The server URL {url.strip()!r} has no host.")
    if parts.username or parts.password:
        raise BadConfiguration("The server URL must not contain a user name or password.")
    try:
        port = parts.port
    except ValueError:
        raise BadConfiguration(f"The server URL {url.strip()!r} has an invalid port.") from None
    host = hostname.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and not (scheme == "https" and port == 443) and not (scheme == "http" and port == 80):
        netloc += f":{port}"
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    if path.endswith("/api/v1"):
        path = path[: -len("/api/v1")]
    return urlunsplit((scheme, netloc, path, "", ""))


def _is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(url: str) -> bool:
    return _is_loopback_host(urlsplit(url).hostname or "")


def check_transport_security(url: str, *, insecure: bool) -> None:
    """Refuse plain http:// to anything but loopback unless the user asked for ``--insecure``."""
    if urlsplit(url).scheme == "http" and not is_loopback(url) and not insecure:
        raise BadConfiguration(
            f"{url} uses plain http://, which would send your token unencrypted. "
            "Use https://, or pass --insecure if you really mean it."
        )


@dataclass(frozen=True)
class VerificationLink:
    """The link a person opens to approve this device."""

    url: str
    device_id: str | None
    host_differs: bool


def verification_link(server_url: str, uri: str, uri_complete: str | None) -> VerificationLink:
    """Make the server's verification link absolute, repair a doubled slash, and check it.

    Raises :class:`BadResponse` for a link that is not http(s) (``javascript:`` and the like).
    """
    raw = clean(uri_complete or uri or "").strip()
    if not raw:
        raise BadResponse("The server sent no verification link.")
    if raw.startswith("/") and not raw.startswith("//"):
        link = server_url.rstrip("/") + raw
    elif raw.startswith("//"):
        # The server's ``lstrip`` bug on an empty base yields "//devices/verify": still a path.
        link = server_url.rstrip("/") + "/" + raw.lstrip("/")
    else:
        link = raw
    try:
        parts = urlsplit(link)
        link_host = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" (urllib: "Invalid IPv6 URL")
        raise BadResponse("The server sent a verification link that is not a valid URL; it will not be opened.") from None
    if parts.scheme.lower() not in ("http", "https") or not link_host:
        raise BadResponse("The server sent a verification link that is not an http(s) URL; it will not be opened.")
    if any(ch.isspace() for ch in link):
        raise BadResponse("The server sent a verification link with spaces in it.")
    path = re.sub(r"/{2,}", "/", parts.path)
    link = urlunsplit((parts.scheme.lower(), parts.netloc, path, parts.query, ""))
    query = parse_qs(parts.query)
    device_ids = query.get("device_id") or []
    server_host = (urlsplit(server_url).hostname or "").lower()
    return VerificationLink(
        url=link,
        device_id=device_ids[0] if device_ids else None,
        host_differs=(link_host or "").lower() != server_host,
    )
