"""New author holds in the store (``record_new_holds``): each hold is reported once,
however many strikes extend it and however many workers commit them at once; a hold
after a lift, or after the last one ran out, is a new one."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from guardq.authors import AuthorPolicy
from guardq.policy import Action, Decision
from guardq.store.authors import HELD, lift_hold, record_new_holds
from guardq.store.db import session_scope
from guardq.store.jobs import NewItem, create_job
from guardq.store.models import AuthorEvent, VerdictRecord, utcnow
from guardq.store.verdicts import NewVerdict, record_outcomes
from guardq.verdict import Category, Mode, Severity, Verdict

POLICY = AuthorPolicy(unsafe_strikes=2, window="PT1H", hold="PT2H")
UNSAFE = Verdict(severity=Severity.UNSAFE, categories=(Category.VIOLENT,))
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=utcnow().tzinfo)


def strike(factory, author: str, at: datetime, previous: str | None = None) -> None:
    """An Unsafe verdict on an item of ``author`` recorded at ``at``."""
    hashes = (author, previous) if previous else (author,)
    with session_scope(factory) as session:
        job = create_job(
            session=session,
            mode=Mode.PROMPT,
            items=[NewItem(text=uuid.uuid4().hex, author_hashes=hashes)],
            model_id="m",
        )
        [item] = job.items
        record_outcomes(
            session=session,
            verdicts=[
                NewVerdict(
                    item_id=item.id,
                    verdict=UNSAFE,
                    decision=Decision(Action.BLOCK, "severity Unsafe"),
                    model_id="m",
                )
            ],
            known={item.id: (job.id, item.content_sha256)},
        )
        session.execute(
            update(VerdictRecord).where(VerdictRecord.item_id == item.id).values(created_at=at)
        )


def report(factory, author: str, now: datetime, previous: str | None = None):
    key = (author, previous)
    with session_scope(factory) as session:
        return record_new_holds(
            session=session,
            authors={key: frozenset({author, previous} - {None})},
            policy=POLICY,
            now=now,
        ).get(key)


def held_rows(factory, author: str) -> int:
    with session_scope(factory) as session:
        return session.scalar(
            select(func.count()).where(
                AuthorEvent.author_hash == author, AuthorEvent.action == HELD
            )
        )


def new_author() -> str:
    return uuid.uuid4().hex * 2


def test_a_hold_is_reported_once_however_long_strikes_extend_it(factory):
    author = new_author()
    strike(factory, author, T0)
    assert report(factory, author, T0 + timedelta(minutes=1)) is None  # one strike: no hold
    strike(factory, author, T0 + timedelta(minutes=10))
    state = report(factory, author, T0 + timedelta(minutes=11))
    assert state is not None and state.strikes == 2
    assert state.held_since == T0 + timedelta(minutes=10)
    assert state.hold_until == T0 + timedelta(hours=2, minutes=10)
    assert report(factory, author, T0 + timedelta(minutes=12)) is None
    # Strikes every 50 minutes keep the hold going for far longer than window + hold
    # (3 hours), past which the first strikes no longer count towards a standing.
    at = T0 + timedelta(minutes=10)
    for _ in range(8):
        at += timedelta(minutes=50)
        strike(factory, author, at)
        assert report(factory, author, at + timedelta(seconds=1)) is None
    assert held_rows(factory, author) == 1


def test_a_hold_after_the_last_ran_out_or_after_a_lift_is_new(factory):
    author = new_author()
    strike(factory, author, T0)
    strike(factory, author, T0 + timedelta(minutes=1))
    assert report(factory, author, T0 + timedelta(minutes=2)) is not None
    # Ran out at T0 + 2h01; two strikes after it make another hold.
    later = T0 + timedelta(hours=3)
    strike(factory, author, later)
    strike(factory, author, later + timedelta(minutes=1))
    again = report(factory, author, later + timedelta(minutes=2))
    assert again is not None and again.held_since == later + timedelta(minutes=1)
    # An admin lifts it; the strikes before the lift no longer count, new ones do.
    lifted = later + timedelta(minutes=3)
    with session_scope(factory) as session:
        lift_hold(session=session, hashes=[author], actor_key_id=None, before=again, now=lifted)
    strike(factory, author, lifted + timedelta(minutes=1))
    assert report(factory, author, lifted + timedelta(minutes=2)) is None
    strike(factory, author, lifted + timedelta(minutes=2))
    assert report(factory, author, lifted + timedelta(minutes=3)) is not None
    assert held_rows(factory, author) == 3


def test_an_author_under_a_rotated_secret_is_one_author(factory):
    old, new = new_author(), new_author()
    strike(factory, old, T0)
    strike(factory, new, T0 + timedelta(minutes=1), previous=old)
    state = report(factory, new, T0 + timedelta(minutes=2), previous=old)
    assert state is not None and state.strikes == 2
    with session_scope(factory) as session:
        row = session.scalars(select(AuthorEvent).where(AuthorEvent.author_hash == new)).one()
    assert (row.author_hash_previous, row.action, row.actor_key_id) == (old, HELD, None)
    assert row.after["held_since"] == (T0 + timedelta(minutes=1)).isoformat()
    # Reported under the new hash, it is not new under the old one alone either.
    assert report(factory, old, T0 + timedelta(minutes=3)) is None


def test_two_workers_reporting_one_author_at_once_report_one_hold(postgres_factory):
    author = new_author()
    strike(postgres_factory, author, T0)
    strike(postgres_factory, author, T0 + timedelta(minutes=1))
    start = threading.Barrier(8)
    found = []

    def one():
        start.wait()
        found.append(report(postgres_factory, author, T0 + timedelta(minutes=2)))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([state for state in found if state is not None]) == 1
    assert held_rows(postgres_factory, author) == 1
