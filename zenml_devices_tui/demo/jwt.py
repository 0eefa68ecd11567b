"""HS256 JSON Web Tokens with the standard library only.

The demo server signs its access tokens like the real one (PyJWT, HS256) and rejects bad ones with the
same messages PyJWT raises, so a client sees the same 401 text from the fake and from a real server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

LEEWAY_SECONDS = 10.0  # jwt_token_leeway_seconds, the zenml default


class TokenError(Exception):
    """The token cannot be accepted; ``str()`` is the PyJWT message, e.g. "Not enough segments"."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str, name: str) -> bytes:
    try:
        raw = segment.encode("ascii")
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise TokenError(f"Invalid {name} padding") from exc


def _sign(signing_input: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def encode(claims: dict[str, Any], secret: bytes) -> str:
    """Sign ``claims`` as a compact JWT (header.payload.signature, base64url)."""
    header = _b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64encode(_sign(signing_input, secret))}"


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise TokenError(f"Invalid {name} string: {exc}") from exc
    if not isinstance(value, dict):
        raise TokenError(f"Invalid {name} string: must be a json object")
    return value


def decode(token: str, secret: bytes, *, audience: str, issuer: str, now: float) -> dict[str, Any]:
    """Verify ``token`` and return its claims, checking the same things in the same order as PyJWT.

    ``now`` is the current time as a POSIX timestamp (the demo server's clock, not the wall clock).
    """
    try:
        signing_input, crypto_segment = token.rsplit(".", 1)
        header_segment, payload_segment = signing_input.split(".", 1)
    except ValueError as exc:
        raise TokenError("Not enough segments") from exc
    header = _json_object(_b64decode(header_segment, "header"), "header")
    payload_bytes = _b64decode(payload_segment, "payload")
    signature = _b64decode(crypto_segment, "crypto")
    if header.get("alg") != "HS256":
        raise TokenError("The specified alg value is not allowed")
    if not hmac.compare_digest(signature, _sign(signing_input.encode("ascii"), secret)):
        raise TokenError("Signature verification failed")
    claims = _json_object(payload_bytes, "payload")
    _check_claims(claims, audience=audience, issuer=issuer, now=now)
    return claims


def _check_claims(claims: dict[str, Any], *, audience: str, issuer: str, now: float) -> None:
    if "exp" in claims:
        exp = claims["exp"]
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise TokenError("Expiration Time claim (exp) must be an integer.")
        if exp <= now - LEEWAY_SECONDS:
            raise TokenError("Signature has expired")
    if "iss" not in claims:
        raise TokenError('Token is missing the "iss" claim')
    if claims["iss"] != issuer:
        raise TokenError("Invalid issuer")
    if "aud" not in claims:
        raise TokenError('Token is missing the "aud" claim')
    if claims["aud"] != audience:
        raise TokenError("Audience doesn't match")


def peek_claims(token: str) -> dict[str, Any]:
    """The payload without any check (for tests and debugging); {} if it cannot be read."""
    try:
        payload = token.split(".")[1]
        value = json.loads(_b64decode(payload, "payload"))
    except (IndexError, TokenError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
