"""Dependencies of the routes: settings, the DB session, the caller's API key.

Everything a route needs comes from ``app.state`` (set once by ``create_app``), so tests
build an app on their own database and broker without touching process globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from cachetools import TTLCache
from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.ratelimit import REQUESTS, charge
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import MAX_KEY_LENGTH, ApiKeyInfo, key_sha256, verify_api_key


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.session_factory


SettingsDep = Annotated[Settings, Depends(_settings)]
FactoryDep = Annotated[sessionmaker[Session], Depends(_session_factory)]


def get_db(factory: FactoryDep) -> Iterator[Session]:
    """One transaction for the request; for quick reads only (not held while waiting)."""
    with session_scope(factory) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]

_bearer = HTTPBearer(auto_error=False, description="An API key from `guardq keys create`.")

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Distinct keys one API process remembers at once (the oldest are dropped beyond).
_KEYS_REMEMBERED = 4096


async def _verified_key(
    factory: sessionmaker[Session],
    presented: str | None,
    request: Request,
    send: str = "the header 'Authorization: Bearer <key>'",
) -> ApiKeyInfo:
    """The presented key, live; 401 when it is missing, unknown or revoked, 429 when it
    is over its requests-per-minute limit (``api.ratelimit``).

    On the event loop: a remembered key costs no thread-pool round trip; only the store
    and Redis are asked from the pool."""
    if presented is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing API key: send {send}",
            headers=_CHALLENGE,
        )
    memory = _key_memory(request.app.state)
    digest = None
    if memory is not None and len(presented) <= MAX_KEY_LENGTH:
        digest = key_sha256(presented)
    key = memory.recall(digest) if digest is not None else None
    if key is None:
        key = await run_in_threadpool(_looked_up_key, factory, presented)
        if key is not None and digest is not None:
            memory.remember(digest, key)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers=_CHALLENGE
        )
    if key.rpm is not None:  # a limit is counted in Redis
        await run_in_threadpool(charge, request, key, REQUESTS, 1)
    return key


class _KeyMemory:
    """The keys one API process verified, for ``key_cache_s``, by their SHA-256 (never
    the key itself). Asking the store was a transaction per request, ~15% of the API's
    CPU at 16 concurrent realtime clients. Only keys found are remembered: an unknown key
    asks the store each time. Used on the event loop only, so it needs no lock."""

    def __init__(self, ttl: float) -> None:
        self._keys: TTLCache[str, ApiKeyInfo] = TTLCache(maxsize=_KEYS_REMEMBERED, ttl=ttl)

    def recall(self, digest: str) -> ApiKeyInfo | None:
        return self._keys.get(digest)

    def remember(self, digest: str, key: ApiKeyInfo) -> None:
        self._keys[digest] = key


def _key_memory(state: Any) -> _KeyMemory | None:
    """This process's key memory, made on first use (None with ``key_cache_s`` 0)."""
    memory = getattr(state, "key_memory", None)
    if memory is None and state.settings.key_cache_s > 0:
        memory = state.key_memory = _KeyMemory(state.settings.key_cache_s)
    return memory


def _looked_up_key(factory: sessionmaker[Session], presented: str) -> ApiKeyInfo | None:
    """The live key ``presented`` names, from the store."""
    # A short transaction of its own: a route that then waits (POST /v1/moderations)
    # must not hold a connection idle in a transaction.
    with session_scope(factory) as session:
        return verify_api_key(session=session, key=presented)


async def current_key(
    factory: FactoryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    request: Request,
) -> ApiKeyInfo:
    """The caller's live API key (``Authorization: Bearer``)."""
    return await _verified_key(factory, credentials.credentials if credentials else None, request)


# LiteLLM's generic guardrail sends its configured api_key as this header.
_x_api_key = APIKeyHeader(
    name="x-api-key", auto_error=False, description="An API key, as LiteLLM sends it."
)


async def gateway_key(
    factory: FactoryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_x_api_key)],
    request: Request,
) -> ApiKeyInfo:
    """The caller's key from ``Authorization: Bearer`` or, failing that, ``x-api-key``."""
    presented = credentials.credentials if credentials else header_key
    send = "the header 'x-api-key: <key>' or 'Authorization: Bearer <key>'"
    return await _verified_key(factory, presented, request, send)


CurrentKey = Annotated[ApiKeyInfo, Depends(current_key)]


def require_role(
    *roles: KeyRole, source: Callable[..., ApiKeyInfo] = current_key
) -> Callable[[ApiKeyInfo], ApiKeyInfo]:
    """A dependency admitting keys (from ``source``) with one of ``roles``; 403 for
    the others."""
    allowed = " or ".join(role.value for role in roles)

    async def check(key: ApiKeyInfo) -> ApiKeyInfo:  # on the loop: no thread hop
        if key.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this endpoint needs a {allowed} key; this key's role is {key.role.value}",
            )
        return key

    # Set as an object: a string annotation (this module's future import) naming the
    # local ``source`` could not be resolved by FastAPI.
    check.__annotations__["key"] = Annotated[ApiKeyInfo, Depends(source)]
    return check


ProducerKey = Annotated[ApiKeyInfo, Depends(require_role(KeyRole.PRODUCER, KeyRole.ADMIN))]
# Reviewers settle escalations; producers may not (and reviewers may not submit).
ReviewerKey = Annotated[
    ApiKeyInfo, Depends(require_role(KeyRole.REVIEWER, KeyRole.LEAD, KeyRole.ADMIN))
]
# LiteLLM's guardrail hook: a producer key sent as a bearer token or as x-api-key.
GatewayProducerKey = Annotated[
    ApiKeyInfo, Depends(require_role(KeyRole.PRODUCER, KeyRole.ADMIN, source=gateway_key))
]
# Term lists and lifting author holds.
AdminKey = Annotated[ApiKeyInfo, Depends(require_role(KeyRole.ADMIN))]
