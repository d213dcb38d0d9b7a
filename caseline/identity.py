"""Pseudonymous contact ids: a keyed HMAC, so the store and logs never need a phone number."""

from __future__ import annotations

import hashlib
import hmac


def contact_id(secret_key: str, channel: str, platform_user_id: str) -> str:
    digest = hmac.new(
        secret_key.encode(), f"{channel}\x00{platform_user_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"c_{digest[:32]}"
