"""Signatures of what guardq POSTs (alerts and job callbacks), in the webhook scheme of
Stripe and GitHub: HMAC-SHA256, keyed with ``GUARDQ_SIGNING_SECRET``, over the
timestamp, a dot and the exact body bytes.

    X-Guardq-Signature: t=1764680000,v1=5257a869e7ec...(64 hex digits)

The receiver recomputes ``HMAC-SHA256(secret, f"{t}." + body)`` over the raw body it
received, compares it with ``v1`` in constant time, and refuses a timestamp too far
from its clock (replays). The timestamp is that of the attempt: a retry is signed anew.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Guardq-Signature"
# How far a receiver should accept a timestamp from its own clock.
TOLERANCE_S = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The value of ``X-Guardq-Signature`` for ``body``, signed now (or at ``timestamp``)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` within ``tolerance_s`` of now.
    What a receiver does (the README shows the same in a few lines)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", ()))
