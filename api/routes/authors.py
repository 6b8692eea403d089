"""Authors: an author's strikes and hold (admin or reviewer keys), and lifting a hold
(admin keys; a trail row records who and when, never the author id).

The author id travels in the path and is hashed here with the deployment's secret; the
standing is computed from the store at the app's clock (``app.state.clock``), the same
computation the workers make.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from sqlalchemy.orm import Session

from api.deps import AdminKey, SessionDep, SettingsDep, require_role
from api.list_schemas import AuthorEventOut, AuthorOut
from guardq.authors import MAX_AUTHOR_CHARS, AuthorPolicy
from guardq.settings import Settings
from guardq.store.authors import author_events, hold_states, lift_hold
from guardq.store.enums import KeyRole
from guardq.store.keys import ApiKeyInfo

router = APIRouter(prefix="/v1/authors", tags=["authors"])

ReaderKey = Annotated[ApiKeyInfo, Depends(require_role(KeyRole.ADMIN, KeyRole.REVIEWER))]
AuthorId = Annotated[str, Path(min_length=1, max_length=MAX_AUTHOR_CHARS)]


def _policy(settings: Settings) -> AuthorPolicy:
    if settings.policy.authors is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this deployment's policy tracks no authors: set policy.authors in GUARDQ_POLICY",
        )
    return settings.policy.authors


def _hashes(settings: Settings, author: str) -> tuple[str, ...]:
    try:
        return settings.author_hashes(author)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _state(session: Session, settings: Settings, author: str, now) -> tuple:
    """The author's hashes and standing at ``now``."""
    policy = _policy(settings)
    hashes = _hashes(settings, author)
    key = frozenset(hashes)
    return hashes, hold_states(session=session, authors={key: key}, policy=policy, now=now)[key]


def _out(session: Session, settings: Settings, hashes, state) -> AuthorOut:
    policy = _policy(settings)
    return AuthorOut(
        author_hash=hashes[0],
        strikes=state.strikes,
        threshold=policy.unsafe_strikes,
        window=policy.window,
        on_hold=state.on_hold,
        held_since=state.held_since,
        hold_until=state.hold_until,
        lifted_at=state.lifted_at,
        on_hold_action=policy.on_hold,
        events=[
            AuthorEventOut(
                action=e.action,
                actor_key_id=e.actor_key_id,
                before=e.before,
                after=e.after,
                at=e.at,
            )
            for e in author_events(session=session, hashes=hashes)
        ],
    )


@router.get("/{author}", response_model=AuthorOut)
def read_author(
    author: AuthorId, session: SessionDep, settings: SettingsDep, key: ReaderKey, request: Request
) -> AuthorOut:
    """Strikes within the window, whether the author is on hold, and until when."""
    hashes, state = _state(session, settings, author, request.app.state.clock())
    return _out(session, settings, hashes, state)


@router.post("/{author}/lift", response_model=AuthorOut)
def lift(
    author: AuthorId, session: SessionDep, settings: SettingsDep, key: AdminKey, request: Request
) -> AuthorOut:
    """End the author's hold; the strikes before now no longer count. 409 when the
    author is not on hold."""
    now = request.app.state.clock()
    hashes, before = _state(session, settings, author, now)
    if not before.on_hold:
        raise HTTPException(status.HTTP_409_CONFLICT, "this author is not on hold")
    lift_hold(session=session, hashes=hashes, actor_key_id=key.id, before=before, now=now)
    _, after = _state(session, settings, author, now)
    return _out(session, settings, hashes, after)
