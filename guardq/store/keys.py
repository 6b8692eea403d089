"""API keys: created once in the clear, stored as a SHA-256, verified by hash lookup.

A key is 256 random bits, so an unsalted SHA-256 is enough: there is no dictionary to
try. Verification hashes the presented key and looks the hash up; the secret itself is
never compared, so there is no secret-dependent timing to leak.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from guardq.store.enums import KeyRole
from guardq.store.models import ApiKey, utcnow

KEY_MARK = "gq_"
# Characters of the key shown in listings and logs: enough to tell keys apart, far too
# few to matter for guessing (about 42 of 256 bits).
PREFIX_LENGTH = len(KEY_MARK) + 7
# No key guardq makes is this long; longer input is refused before hashing.
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class ApiKeyInfo:
    id: uuid.UUID
    name: str
    role: KeyRole
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    # Requests and items per minute (api.ratelimit); None: unlimited.
    rpm: int | None = None
    ipm: int | None = None


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: ``key`` is shown to its owner once and kept nowhere."""

    info: ApiKeyInfo
    key: str


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# Above this a per-minute limit is no limit; the bound keeps the moving window's Redis
# list (one entry per request or item) small.
MAX_PER_MINUTE = 1_000_000


def _check_limit(name: str, value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_PER_MINUTE:
        raise ValueError(f"{name}: 1 to {MAX_PER_MINUTE:,} per minute (or no limit), got {value}")
    return value


def create_api_key(
    *,
    session: Session,
    name: str,
    role: KeyRole,
    rpm: int | None = None,
    ipm: int | None = None,
) -> NewApiKey:
    """Create a key for ``name`` with ``role``; only its hash and prefix are stored.
    ``rpm`` / ``ipm``: requests / items per minute it may send (None: unlimited)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError(f"name: 1 to 100 characters, got {len(name)}")
    key = KEY_MARK + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        role=KeyRole(role),
        key_hash=key_sha256(key),
        prefix=key[:PREFIX_LENGTH],
        rpm=_check_limit("rpm", rpm),
        ipm=_check_limit("ipm", ipm),
    )
    session.add(row)
    session.flush()
    return NewApiKey(info=_info(row), key=key)


def verify_api_key(*, session: Session, key: str) -> ApiKeyInfo | None:
    """The live (unrevoked) key matching ``key``, or None."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    # A row of the table, not an ORM object: this runs for every request.
    keys = ApiKey.__table__.c
    query = select(ApiKey.__table__).where(
        keys.key_hash == key_sha256(key), keys.revoked_at.is_(None)
    )
    row = session.execute(query).first()
    return _info(row) if row else None


def revoke_api_key(*, session: Session, key_id: uuid.UUID) -> bool:
    """Revoke a key from now on; False when unknown or already revoked."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


UNCHANGED = object()


def set_api_key_limits(
    *, session: Session, key_id: uuid.UUID, rpm=UNCHANGED, ipm=UNCHANGED
) -> ApiKeyInfo | None:
    """Change a key's per-minute limits (an int, or None for unlimited; a limit not
    passed stays); the key as it is now, or None when there is no such key. Every API
    process applies the change from the key's next request."""
    values = {
        name: _check_limit(name, value)
        for name, value in (("rpm", rpm), ("ipm", ipm))
        if value is not UNCHANGED
    }
    row = session.get(ApiKey, key_id, populate_existing=True)
    if row is None:
        return None
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    return _info(row)


def list_api_keys(*, session: Session) -> list[ApiKeyInfo]:
    """All keys, revoked ones included, oldest first."""
    rows = session.scalars(
        select(ApiKey)
        .order_by(ApiKey.created_at, ApiKey.id)
        .execution_options(populate_existing=True)
    )
    return [_info(row) for row in rows]


def _info(row) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        rpm=row.rpm,
        ipm=row.ipm,
    )
