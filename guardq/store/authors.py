"""Authors in the store: their strike times, their last lift, and lifting a hold.

An author is known by a set of hashes (``guardq.authors``: the current secret's, and
the previous one's while rotating); an item matches when either of its hashes is in
the set. Every query here is one statement for a whole batch of authors.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from guardq.authors import AuthorPolicy, HoldState, hold_state
from guardq.store.models import AuthorEvent, Item, VerdictRecord

LIFTED = "lifted"

# An author is a key (any hashable) with its hashes.
Authors = Mapping[object, frozenset[str]]


def hold_states(
    *, session: Session, authors: Authors, policy: AuthorPolicy, now: datetime
) -> dict[object, HoldState]:
    """Each author's standing at ``now``, in two statements for the whole batch."""
    if not authors:
        return {}
    every = sorted(set().union(*authors.values()))
    lifts: dict[str, datetime] = {}
    for h, h_previous, at in session.execute(
        select(AuthorEvent.author_hash, AuthorEvent.author_hash_previous, func.max(AuthorEvent.at))
        .where(
            AuthorEvent.action == LIFTED,
            or_(AuthorEvent.author_hash.in_(every), AuthorEvent.author_hash_previous.in_(every)),
        )
        .group_by(AuthorEvent.author_hash, AuthorEvent.author_hash_previous)
    ):
        for key in (h, h_previous):
            if key is not None:
                lifts[key] = max(at, lifts.get(key, at))
    strikes: dict[str, list[tuple[uuid.UUID, datetime]]] = {}
    for item_id, h, h_previous, at in session.execute(
        select(Item.id, Item.author_hash, Item.author_hash_previous, VerdictRecord.created_at)
        .join(VerdictRecord, VerdictRecord.item_id == Item.id)
        .where(
            or_(Item.author_hash.in_(every), Item.author_hash_previous.in_(every)),
            VerdictRecord.severity.in_(policy.strike_severities),
            VerdictRecord.created_at > now - policy.lookback,
            VerdictRecord.created_at <= now,
        )
    ):
        # An item hashed under both secrets is one strike: kept under each hash, and
        # counted once per author below.
        for key in {h, h_previous} - {None}:
            strikes.setdefault(key, []).append((item_id, at))
    states = {}
    for author, hashes in authors.items():
        rows = {row for key in hashes for row in strikes.get(key, ())}
        lifted = max((lifts[key] for key in hashes if key in lifts), default=None)
        states[author] = hold_state([at for _item, at in rows], policy, now=now, lifted_at=lifted)
    return states


def lift_hold(
    *,
    session: Session,
    hashes: Sequence[str],
    actor_key_id: uuid.UUID | None,
    before: HoldState,
    now: datetime,
) -> None:
    """Record an admin's lift (a trail row, never the author id): the hold ends and
    the strikes before ``now`` no longer count."""
    session.add(
        AuthorEvent(
            author_hash=hashes[0],
            author_hash_previous=hashes[1] if len(hashes) > 1 else None,
            actor_key_id=actor_key_id,
            action=LIFTED,
            before=_json(before),
            after={"on_hold": False, "strikes": 0},
            at=now,
        )
    )
    session.flush()


def author_events(*, session: Session, hashes: Sequence[str]) -> list[AuthorEvent]:
    return list(
        session.scalars(
            select(AuthorEvent)
            .where(
                or_(
                    AuthorEvent.author_hash.in_(list(hashes)),
                    AuthorEvent.author_hash_previous.in_(list(hashes)),
                )
            )
            .order_by(AuthorEvent.at)
        )
    )


def _json(state: HoldState) -> dict:
    return {
        "on_hold": state.on_hold,
        "strikes": state.strikes,
        "hold_until": state.hold_until.isoformat() if state.hold_until else None,
    }
