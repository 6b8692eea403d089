"""Content hashing: the key for dedup, the verdict cache and the audit trail.

The hash is SHA-256 over the exact UTF-8 bytes of the text, with no normalisation:
two texts that differ by one space or one Unicode normal form are different content,
may get different verdicts, and so must not share a cache entry. A response-mode item
is the pair (prompt, response); it is hashed as the compact JSON array of the two, so
that no choice of separator can make two different pairs collide.
"""

from __future__ import annotations

import hashlib
import json


def content_sha256(text: str) -> str:
    """Hex SHA-256 of the exact UTF-8 encoding of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pair_sha256(prompt: str, response: str) -> str:
    """Hex SHA-256 of a (prompt, response) pair for response moderation."""
    return content_sha256(json.dumps([prompt, response], ensure_ascii=False, separators=(",", ":")))
