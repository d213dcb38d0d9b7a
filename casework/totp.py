"""Time-based one-time passwords (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits, ±1 step.

Secrets are 160 random bits, shown to the user once as an ``otpauth://`` URI (and as
base32 text for apps without a camera), and stored sealed with AES-256-GCM under a key
derived from the service's secret key, bound to the username, so a copied store or a
log line never yields a working authenticator. :func:`verify` answers the time step that
matched, so the caller can refuse that step (and every earlier one) ever after: a code
overheard or replayed within its window is useless.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1
ISSUER = "Caseline"
SEALED_PREFIX = "t1."


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def code_at(secret: str, step: int) -> str:
    """The code for one time step (RFC 4226 dynamic truncation)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def step_of(timestamp: float) -> int:
    return int(timestamp // STEP_SECONDS)


def verify(secret: str, code: object, timestamp: float) -> int | None:
    """The matching time step within ±:data:`WINDOW` of ``timestamp``, else None (constant time)."""
    if not isinstance(code, str):
        return None
    code = code.replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = step_of(timestamp)
    found: int | None = None
    for step in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step).encode(), code.encode()) and found is None:
            found = step
    return found


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    label = quote(f"{issuer}:{username}", safe=":@")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP_SECONDS}
    )
    return f"otpauth://totp/{label}?{query}"


class SecretBox:
    """Seals TOTP secrets at rest; the key is derived from the service's secret key."""

    def __init__(self, service_secret: str) -> None:
        if not service_secret:
            raise ValueError("a service secret key is needed to seal TOTP secrets")
        self._aead = AESGCM(hashlib.sha256(b"caseline/totp/v1\x00" + service_secret.encode()).digest())

    def seal(self, username: str, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode("ascii"), username.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, username: str, value: str) -> str | None:
        """The secret, or None if the value was tampered with or sealed under another key."""
        if not value.startswith(SEALED_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], username.encode()).decode("ascii")
        except (InvalidTag, ValueError, binascii.Error):
            return None
