"""Reading a JWT's claims without checking its signature.

The client never trusts these claims for security; it reads them to learn which
device it is (``device_id``), the server (``iss``) and the expiry (``exp``), which a
ZenML OSS server puts only in the token (zenml-api.md §2).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from zenml_devices_tui.core.secret import Secret

#: Anything longer is not a token this app would be given.
MAX_TOKEN_CHARS = 64 * 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def decode_claims(token: Secret | str) -> dict[str, Any]:
    """The payload of a compact JWS/JWT as a dict; ``{}`` for anything malformed. Never raises."""
    try:
        text = token.reveal() if isinstance(token, Secret) else token
        if not isinstance(text, str) or len(text) > MAX_TOKEN_CHARS:
            return {}
        parts = text.strip().split(".")
        if len(parts) != 3 or not _B64URL.fullmatch(parts[1]):
            return {}
        payload = parts[1]
        raw = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True)
        claims = json.loads(raw.decode("utf-8"))
    except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}
