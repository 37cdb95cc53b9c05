"""Signed webhook payloads: HMAC-SHA256 with the subscriber's own secret.

Headers on every notification POST::

    X-Signature-Timestamp: 1750000000            (epoch seconds when it was sent)
    X-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    X-Event-Id: <uuid>                            (idempotency key: the same on every retry)
    Idempotency-Key: <uuid>                       (the same value, for receivers that look for it)

The timestamp is inside the signed text, so a receiver that rejects stale timestamps also rejects
replays; the event id lets it drop a message it already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

SIGNATURE = "X-Signature"
TIMESTAMP = "X-Signature-Timestamp"
EVENT_ID = "X-Event-Id"


def new_secret() -> str:
    """A fresh per-subscriber secret (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int, event_id: str) -> dict[str, str]:
    return {
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(secret, timestamp, body),
        EVENT_ID: event_id,
        "Idempotency-Key": event_id,
    }


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance: float = 300,
) -> bool:
    """Whether ``headers`` carry a valid signature of ``body`` (what a receiver should check)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP.lower()])
        given = lowered[SIGNATURE.lower()]
    except (KeyError, ValueError):
        return False
    if now is not None and abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))
