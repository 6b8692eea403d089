"""Authors in the store: their strike times, their last lift, and lifting a hold.

An author is known by a set of hashes (``guardq.authors``: the current secret's, and
the previous one's while rotating); an item matches when either of its hashes is in
the set. Every query here is one statement for a whole batch of authors.

Trail rows (``author_events``): ``lifted`` when an admin lifts a hold, ``held`` when a
new hold is reported (``record_new_holds``, for the alert of guardq.alerts).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from guardq.authors import AuthorPolicy, HoldState, hold_state
from guardq.store.models import AuthorEvent, Item, VerdictRecord

LIFTED = "lifted"
HELD = "held"

# An author is a key (any hashable) with its hashes.
Authors = Mapping[object, frozenset[str]]


def hold_states(
    *,
    session: Session,
    authors: Authors,
    policy: AuthorPolicy,
    now: datetime,
    strikes_from: datetime | None = None,
) -> dict[object, HoldState]:
    """Each author's standing at ``now``, in two statements for the whole batch.

    Strikes count from ``now`` - ``policy.lookback``, or from ``strikes_from`` if that is
    earlier (to find where a long hold began)."""
    if not authors:
        return {}
    every = sorted(set().union(*authors.values()))
    lifts = _latest(session, every, LIFTED)
    start = now - policy.lookback
    if strikes_from is not None:
        start = min(start, strikes_from)
    strikes: dict[str, list[tuple[uuid.UUID, datetime]]] = {}
    for item_id, h, h_previous, at in session.execute(
        select(Item.id, Item.author_hash, Item.author_hash_previous, VerdictRecord.created_at)
        .join(VerdictRecord, VerdictRecord.item_id == Item.id)
        .where(
            or_(Item.author_hash.in_(every), Item.author_hash_previous.in_(every)),
            VerdictRecord.severity.in_(policy.strike_severities),
            VerdictRecord.created_at > start,
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


def record_new_holds(
    *,
    session: Session,
    authors: Mapping[tuple[str, str | None], frozenset[str]],
    policy: AuthorPolicy,
    now: datetime,
) -> dict[tuple[str, str | None], HoldState]:
    """Of ``authors`` (those with a strike just committed; each keyed by its hash and
    previous hash, with every hash it is known by), the ones on hold at ``now``
    whose hold began after their last ``held`` trail row, or who have none; each of
    them gets a ``held`` row here, so that a hold is reported once.

    The authors are locked for the rest of the transaction (Postgres advisory locks), so
    that two workers committing strikes of one author at once report one hold. A hold
    that strikes keep extending stays the same hold: its start is found from strikes
    back to before the last ``held`` row."""
    if not authors:
        return {}
    every = sorted(set().union(*authors.values()))
    if session.get_bind().dialect.name == "postgresql":
        for h in every:
            # The first 60 bits of the hash: a bigint key, the same in every process.
            session.execute(select(func.pg_advisory_xact_lock(int(h[:15], 16))))
    reported = _latest(session, every, HELD)
    last = {
        author: max((reported[h] for h in hashes if h in reported), default=None)
        for author, hashes in authors.items()
    }
    earliest = min((at for at in last.values() if at is not None), default=None)
    states = hold_states(
        session=session,
        authors=authors,
        policy=policy,
        now=now,
        strikes_from=earliest - policy.lookback if earliest is not None else None,
    )
    new = {
        author: state
        for author, state in states.items()
        if state.on_hold
        and state.held_since is not None
        and (last[author] is None or state.held_since > last[author])
    }
    if new:
        session.execute(
            insert(AuthorEvent),
            [
                {
                    "id": uuid.uuid4(),
                    "author_hash": author[0],
                    "author_hash_previous": author[1],
                    "actor_key_id": None,
                    "action": HELD,
                    "before": None,
                    "after": _json(state),
                    "at": now,
                }
                for author, state in new.items()
            ],
        )
    return new


def _latest(session: Session, hashes: Sequence[str], action: str) -> dict[str, datetime]:
    """The time of the last ``action`` trail row of each of ``hashes`` that has one."""
    latest: dict[str, datetime] = {}
    for h, h_previous, at in session.execute(
        select(AuthorEvent.author_hash, AuthorEvent.author_hash_previous, func.max(AuthorEvent.at))
        .where(
            AuthorEvent.action == action,
            or_(AuthorEvent.author_hash.in_(hashes), AuthorEvent.author_hash_previous.in_(hashes)),
        )
        .group_by(AuthorEvent.author_hash, AuthorEvent.author_hash_previous)
    ):
        for key in (h, h_previous):
            if key is not None:
                latest[key] = max(at, latest.get(key, at))
    return latest


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
    standing = {
        "on_hold": state.on_hold,
        "strikes": state.strikes,
        "hold_until": state.hold_until.isoformat() if state.hold_until else None,
    }
    if state.held_since is not None:
        standing["held_since"] = state.held_since.isoformat()
    return standing
