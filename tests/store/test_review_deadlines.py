"""Review deadlines (order=due, overdue) and bulk decisions, on an injected clock."""

from datetime import timedelta

import pytest

from guardq.policy import Policy
from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus
from guardq.store.escalations import mark_overdue
from guardq.store.models import utcnow
from guardq.store.review_errors import ReviewConflict
from guardq.store.review_stats import overdue_count
from guardq.store.reviews import (
    get_review,
    list_reviews,
    resolve_review,
    resolve_reviews,
    review_trail,
)
from guardq.verdict import Category, Severity

from .reviews_helpers import RETENTION, claim, escalate, reviewer

pytestmark = pytest.mark.integration

POLICY = Policy.model_validate(
    {
        "unsafe_review_sample": 1.0,
        "review": {"due_s": {"controversial": 24 * 3600, "unparsed": 4 * 3600}},
    }
)


def listed(factory, now, **filters):
    with session_scope(factory) as session:
        return [view.id for view in list_reviews(session=session, now=now, **filters)]


@pytest.fixture
def by_reason(factory):
    """Escalated oldest first: Controversial (due in 24 h), sampled Unsafe (72 h, the
    default), unparsed (4 h), and one opened without a deadline."""
    return {
        "controversial": escalate(factory, Severity.CONTROVERSIAL, policy=POLICY),
        "sampled": escalate(
            factory, Severity.UNSAFE, Category.VIOLENT, policy=POLICY, sampled=True
        ),
        "unparsed": escalate(factory, None, policy=POLICY),
        "no deadline": escalate(factory),
    }


def test_the_queue_orders_by_deadline_with_undated_items_last(factory, by_reason):
    now = utcnow()

    assert listed(factory, now, order="due") == [
        by_reason["unparsed"],
        by_reason["controversial"],
        by_reason["sampled"],
        by_reason["no deadline"],
    ]
    assert listed(factory, now, order="oldest") == list(by_reason.values())
    # Paging in due order picks up after the anchor's deadline.
    first_two = listed(factory, now, order="due", limit=2)
    assert listed(factory, now, order="due", after=first_two[-1]) == [
        by_reason["sampled"],
        by_reason["no deadline"],
    ]


def test_items_past_their_deadline_are_overdue_and_reported_once(factory, by_reason):
    with session_scope(factory) as session:
        due = get_review(session=session, escalation_id=by_reason["unparsed"]).due_at
    before, after = due - timedelta(seconds=1), due + timedelta(seconds=1)

    assert listed(factory, before, overdue=True) == []
    assert listed(factory, after, overdue=True) == [by_reason["unparsed"]]
    with session_scope(factory) as session:
        assert overdue_count(session=session, now=before) == 0
        assert overdue_count(session=session, now=after) == 1
        assert get_review(session=session, escalation_id=by_reason["unparsed"]).overdue(after)
        reported = mark_overdue(session=session, now=after)
    assert reported == [(by_reason["unparsed"], due)]
    with session_scope(factory) as session:
        assert mark_overdue(session=session, now=after + timedelta(hours=1)) == []
        trail = review_trail(session=session, escalation_id=by_reason["unparsed"])
    assert trail[-1].action == "overdue" and trail[-1].actor_key_id is None

    # Twenty hours on, the Controversial one is late too; a decided item never is.
    later = after + timedelta(hours=20)
    alice = reviewer(factory)
    claim(factory, by_reason["unparsed"], alice, now=later)
    with session_scope(factory) as session:
        decide_safe(session, by_reason["unparsed"], alice, later)
        assert overdue_count(session=session, now=later) == 1
        assert [e for e, _ in mark_overdue(session=session, now=later)] == [
            by_reason["controversial"]
        ]


def decide_safe(session, escalation_id, key_id, now):
    resolve_review(
        session=session,
        escalation_id=escalation_id,
        reviewer_key_id=key_id,
        decision=Severity.SAFE,
        categories=[],
        note=None,
        retention=RETENTION,
        now=now,
    )


def soon():
    """A clock just ahead of the rows' real creation times (the trail sorts by time)."""
    return utcnow() + timedelta(minutes=1)


def bulk(factory, ids, key_id, now, decision=Severity.UNSAFE, categories=(Category.VIOLENT,)):
    with session_scope(factory) as session:
        return resolve_reviews(
            session=session,
            escalation_ids=ids,
            reviewer_key_id=key_id,
            decision=decision,
            categories=list(categories),
            note=None,
            retention=RETENTION,
            now=now,
        )


def test_bulk_decision_on_items_of_one_content_writes_one_trail_row_each(factory):
    now = soon()
    same = [escalate(factory, Severity.CONTROVERSIAL, text="the same text") for _ in range(3)]
    alice = reviewer(factory)
    for escalation_id in same:
        claim(factory, escalation_id, alice, now=now)

    views = bulk(factory, same, alice, now + timedelta(seconds=5))

    assert [v.status for v in views] == [EscalationStatus.RESOLVED] * 3
    assert {v.decision for v in views} == {Severity.UNSAFE}
    with session_scope(factory) as session:
        for escalation_id in same:
            actions = [e.action for e in review_trail(session=session, escalation_id=escalation_id)]
            assert actions == ["escalated", "claimed", "resolved"]


def test_bulk_decision_on_items_of_one_model_verdict(factory):
    now = soon()
    ids = [
        escalate(factory, Severity.UNSAFE, Category.PII, text=f"text {n}", sampled=True)
        for n in range(2)
    ]
    alice = reviewer(factory)
    for escalation_id in ids:
        claim(factory, escalation_id, alice, now=now)

    views = bulk(factory, ids, alice, now + timedelta(seconds=5), Severity.SAFE, ())

    assert [v.decision for v in views] == [Severity.SAFE, Severity.SAFE]


def test_bulk_decision_refuses_unlike_items_and_is_all_or_nothing(factory):
    now = soon()
    alice, bob = reviewer(factory, "alice"), reviewer(factory, "bob")
    unlike = [
        escalate(factory, Severity.CONTROVERSIAL, Category.POLITICAL, text="one"),
        escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="two"),
    ]
    for escalation_id in unlike:
        claim(factory, escalation_id, alice, now=now)
    with pytest.raises(ValueError, match="same content hash or the same model verdict"):
        bulk(factory, unlike, alice, now)

    alike = [escalate(factory, Severity.CONTROVERSIAL, text="same") for _ in range(2)]
    claim(factory, alike[0], alice, now=now)
    claim(factory, alike[1], bob, now=now)
    with pytest.raises(ReviewConflict, match="bob holds it"):
        bulk(factory, alike, alice, now + timedelta(seconds=5))
    with session_scope(factory) as session:
        first = get_review(session=session, escalation_id=alike[0], now=now)
    assert first.status is EscalationStatus.CLAIMED and first.decision is None

    with pytest.raises(ValueError, match="at least 2"):
        bulk(factory, alike[:1], alice, now)
