"""Webhook signatures: HMAC-SHA256 over the timestamp and the exact body, per-subscriber secret."""

from __future__ import annotations

import hashlib
import hmac

from gateway.notify.signing import new_secret, signed_headers, verify


def test_a_signature_verifies_with_its_secret_only() -> None:
    secret, body = new_secret(), b'{"resourceType":"Bundle"}'
    headers = signed_headers(secret, body, 1_750_000_000, "ev-1")
    assert headers["X-Event-Id"] == headers["Idempotency-Key"] == "ev-1"
    expected = hmac.new(secret.encode(), b"1750000000." + body, hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == f"sha256={expected}"
    assert verify(secret, body, headers, now=1_750_000_010)
    assert not verify(new_secret(), body, headers)
    assert not verify(secret, body + b" ", headers)
    assert not verify(secret, body, {**headers, "X-Signature-Timestamp": "1750000001"})
    assert not verify(secret, body, headers, now=1_750_000_000 + 301)  # a stale replay
    assert not verify(secret, body, {})


def test_secrets_are_long_and_distinct() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(len(s) >= 43 for s in secrets)
