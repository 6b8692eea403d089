"""Dependencies of the routes: settings, the DB session, the caller's API key.

Everything a route needs comes from ``app.state`` (set once by ``create_app``), so tests
build an app on their own database and broker without touching process globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import ApiKeyInfo, verify_api_key


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


def current_key(
    factory: FactoryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKeyInfo:
    """The caller's live API key; 401 when it is missing, unknown or revoked."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send the header 'Authorization: Bearer <key>'",
            headers=_CHALLENGE,
        )
    # A short transaction of its own: a route that then waits (POST /v1/moderations)
    # must not hold a connection idle in a transaction.
    with session_scope(factory) as session:
        key = verify_api_key(session=session, key=credentials.credentials)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers=_CHALLENGE
        )
    return key


CurrentKey = Annotated[ApiKeyInfo, Depends(current_key)]


def require_role(*roles: KeyRole) -> Callable[[ApiKeyInfo], ApiKeyInfo]:
    """A dependency admitting keys with one of ``roles``; 403 for the others."""
    allowed = " or ".join(role.value for role in roles)

    def check(key: CurrentKey) -> ApiKeyInfo:
        if key.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this endpoint needs a {allowed} key; this key's role is {key.role.value}",
            )
        return key

    return check


ProducerKey = Annotated[ApiKeyInfo, Depends(require_role(KeyRole.PRODUCER, KeyRole.ADMIN))]
# Reviewers settle escalations; producers may not (and reviewers may not submit).
ReviewerKey = Annotated[
    ApiKeyInfo, Depends(require_role(KeyRole.REVIEWER, KeyRole.LEAD, KeyRole.ADMIN))
]
