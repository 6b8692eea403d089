"""Consensus review: every transition of an escalation that needs several decisions."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from guardq.review_export import training_pair
from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus, KeyRole
from guardq.store.models import ReviewDecision
from guardq.store.review_errors import ReviewClosed, ReviewConflict
from guardq.store.reviews import get_review, list_reviews, review_stats, review_trail
from guardq.verdict import Category, Severity

from .reviews_helpers import LEASE, T0, claim, escalate, resolve, reviewer

pytestmark = pytest.mark.integration

UNSAFE = (Severity.UNSAFE, (Category.VIOLENT,))
SAFE = (Severity.SAFE, ())


def decide(factory, escalation_id, key_id, label, now):
    claim(factory, escalation_id, key_id, now=now)
    return resolve(factory, escalation_id, key_id, *label, now=now + timedelta(seconds=30))


def trail(factory, escalation_id):
    with session_scope(factory) as session:
        return [
            (event.action, event.actor_name)
            for event in review_trail(session=session, escalation_id=escalation_id)
        ]


def decisions_of(factory, escalation_id):
    with session_scope(factory) as session:
        rows = session.execute(
            select(ReviewDecision.reviewer_key_id, ReviewDecision.decision, ReviewDecision.settles)
            .where(ReviewDecision.escalation_id == escalation_id)
            .order_by(ReviewDecision.at)
        )
        return [tuple(row) for row in rows]


def queue_for(factory, key_id, leads=False, now=T0):
    with session_scope(factory) as session:
        views = list_reviews(session=session, reviewer_key_id=key_id, leads=leads, now=now)
        return [view.id for view in views]


def test_agreeing_decisions_resolve_the_item_only_when_the_required_number_is_reached(factory):
    escalation_id = escalate(factory, decisions=2)
    alice, bob = reviewer(factory, "alice"), reviewer(factory, "bob")

    first = decide(factory, escalation_id, alice, UNSAFE, T0)

    assert first.status is EscalationStatus.OPEN
    assert (first.decisions_made, first.decisions_required, first.decision) == (1, 2, None)
    assert first.claimed_by is None

    second = decide(factory, escalation_id, bob, UNSAFE, T0 + timedelta(minutes=1))

    assert second.status is EscalationStatus.RESOLVED
    assert (second.decision, second.decision_categories) == (Severity.UNSAFE, (Category.VIOLENT,))
    assert (second.decisions_made, second.agreed_count, second.disputed) == (2, 2, False)
    assert second.decided_by == bob
    assert trail(factory, escalation_id) == [
        ("escalated", None),
        ("claimed", "alice"),
        ("decided", "alice"),
        ("claimed", "bob"),
        ("resolved", "bob"),
    ]
    assert decisions_of(factory, escalation_id) == [
        (alice, Severity.UNSAFE, False),
        (bob, Severity.UNSAFE, False),
    ]
    pair = training_pair(second)
    assert (pair["reviewers_agreed"], pair["decisions"], pair["settled_by"]) == (
        2,
        2,
        "consensus",
    )


def test_a_disagreement_goes_to_a_lead_whose_decision_settles_the_item(factory):
    escalation_id = escalate(factory, decisions=2)
    alice, bob, carol = (reviewer(factory, name) for name in ("alice", "bob", "carol"))
    lead = reviewer(factory, "dana", KeyRole.LEAD)
    decide(factory, escalation_id, alice, UNSAFE, T0)

    disputed = decide(factory, escalation_id, bob, SAFE, T0 + timedelta(minutes=1))

    assert disputed.status is EscalationStatus.OPEN
    assert (disputed.disputed, disputed.decisions_made, disputed.decision) == (True, 2, None)
    # Out of the plain reviewers' queue, into the lead's; a reviewer may not take it.
    assert queue_for(factory, carol) == []
    assert queue_for(factory, lead, leads=True) == [escalation_id]
    with pytest.raises(ReviewConflict, match="a lead settles it"):
        claim(factory, escalation_id, carol, now=T0 + timedelta(minutes=2))

    settled = decide(factory, escalation_id, lead, SAFE, T0 + timedelta(minutes=3))

    assert settled.status is EscalationStatus.RESOLVED
    assert (settled.decision, settled.decided_by, settled.agreed_count) == (Severity.SAFE, lead, 2)
    assert [action for action, _ in trail(factory, escalation_id)] == [
        "escalated",
        "claimed",
        "decided",
        "claimed",
        "disputed",
        "claimed",
        "settled",
    ]
    # Every decision is kept, the disagreeing one too; the lead's is marked as settling.
    assert decisions_of(factory, escalation_id) == [
        (alice, Severity.UNSAFE, False),
        (bob, Severity.SAFE, False),
        (lead, Severity.SAFE, True),
    ]
    assert training_pair(settled)["settled_by"] == "lead"
    with pytest.raises(ReviewClosed):
        claim(factory, escalation_id, carol, now=T0 + timedelta(minutes=4))


def test_a_reviewer_never_sees_or_decides_the_same_item_twice(factory):
    escalation_id = escalate(factory, decisions=2)
    alice = reviewer(factory, "alice", KeyRole.LEAD)
    bob = reviewer(factory, "bob")
    decide(factory, escalation_id, alice, UNSAFE, T0)

    assert queue_for(factory, alice, leads=True) == []
    assert queue_for(factory, bob) == [escalation_id]
    with pytest.raises(ReviewConflict, match="you have decided it already"):
        claim(factory, escalation_id, alice, now=T0 + timedelta(minutes=1))

    # Nor as the lead of the dispute that follows: a lead who decided it cannot settle it.
    decide(factory, escalation_id, bob, SAFE, T0 + timedelta(minutes=2))
    assert queue_for(factory, alice, leads=True) == []
    with pytest.raises(ReviewConflict, match="you have decided it already"):
        claim(factory, escalation_id, alice, now=T0 + timedelta(minutes=3))

    # The table itself refuses a second decision by one reviewer.
    with pytest.raises(IntegrityError), session_scope(factory) as session:
        session.add(
            ReviewDecision(
                escalation_id=escalation_id,
                reviewer_key_id=alice,
                decision=Severity.SAFE,
                categories=[],
                at=T0,
            )
        )
    assert len(decisions_of(factory, escalation_id)) == 2


def test_a_lease_expiring_between_the_two_decisions_lets_a_third_reviewer_decide(factory):
    escalation_id = escalate(factory, decisions=2)
    alice, bob, carol = (reviewer(factory, name) for name in ("alice", "bob", "carol"))
    decide(factory, escalation_id, alice, UNSAFE, T0)
    claim(factory, escalation_id, bob, now=T0 + timedelta(minutes=1))
    lapsed = T0 + timedelta(minutes=1) + LEASE + timedelta(seconds=1)

    with pytest.raises(ReviewConflict, match="your lease expired"):
        resolve(factory, escalation_id, bob, *UNSAFE, now=lapsed)
    assert queue_for(factory, carol, now=lapsed) == [escalation_id]

    settled = decide(factory, escalation_id, carol, UNSAFE, lapsed)

    assert settled.status is EscalationStatus.RESOLVED
    assert (settled.decisions_made, settled.agreed_count, settled.decided_by) == (2, 2, carol)
    # Bob's lapsed claim is in the trail; he left no decision.
    assert trail(factory, escalation_id) == [
        ("escalated", None),
        ("claimed", "alice"),
        ("decided", "alice"),
        ("claimed", "bob"),
        ("claimed", "carol"),
        ("resolved", "carol"),
    ]
    assert [key for key, _, _ in decisions_of(factory, escalation_id)] == [alice, carol]


def test_one_required_decision_resolves_at_once_as_before(factory):
    escalation_id = escalate(factory)
    alice = reviewer(factory)

    view = decide(factory, escalation_id, alice, UNSAFE, T0)

    assert view.status is EscalationStatus.RESOLVED
    assert (view.decisions_made, view.agreed_count) == (1, 1)
    assert [action for action, _ in trail(factory, escalation_id)][-1] == "resolved"


def test_reviewer_agreement_kappa_matches_the_hand_computed_figures(factory):
    alice, bob, carol = (reviewer(factory, name) for name in ("alice", "bob", "carol"))
    lead = reviewer(factory, "dana", KeyRole.LEAD)
    at = T0
    # Cohen, two raters: (U,U) (U,S) (S,S) (S,S). Observed 3/4; first rater U 2/4, S 2/4,
    # second U 1/4, S 3/4, so chance 2/4*1/4 + 2/4*3/4 = 1/2; kappa (3/4-1/2)/(1/2) = 0.5.
    for first, second in [(UNSAFE, UNSAFE), (UNSAFE, SAFE), (SAFE, SAFE), (SAFE, SAFE)]:
        escalation_id = escalate(factory, decisions=2)
        decide(factory, escalation_id, alice, first, at)
        decide(factory, escalation_id, bob, second, at + timedelta(minutes=1))
        if first != second:
            decide(factory, escalation_id, lead, SAFE, at + timedelta(minutes=2))
        at += timedelta(minutes=10)
    # Fleiss, three raters, on items found PII: (U,U,U) (U,U,S) (S,S,S). Per item
    # agreement 1, 1/3, 1 -> mean 7/9; class shares U 5/9, S 4/9 -> chance 41/81;
    # kappa (7/9 - 41/81) / (1 - 41/81) = 22/40 = 0.55. The lead's settling decision
    # on the second item is not an independent rating and is left out.
    for labels in [(UNSAFE,) * 3, (UNSAFE, UNSAFE, SAFE), (SAFE,) * 3]:
        escalation_id = escalate(factory, Severity.UNSAFE, Category.PII, decisions=3)
        for key, label in zip((alice, bob, carol), labels, strict=True):
            decide(factory, escalation_id, key, label, at)
            at += timedelta(minutes=1)
        if len(set(labels)) > 1:
            decide(factory, escalation_id, lead, UNSAFE, at)

    with session_scope(factory) as session:
        stats = review_stats(session=session, now=at + timedelta(minutes=1))

    cohen, fleiss = stats.inter_reviewer
    assert (cohen.raters, cohen.method, cohen.items) == (2, "cohen", 4)
    assert cohen.kappa == pytest.approx(0.5)
    assert (fleiss.raters, fleiss.method, fleiss.items) == (3, "fleiss", 3)
    assert fleiss.kappa == pytest.approx(0.55)
    by_category = stats.inter_reviewer_by_category
    assert [f.kappa for f in by_category[Category.POLITICAL]] == [pytest.approx(0.5)]
    assert [f.kappa for f in by_category[Category.PII]] == [pytest.approx(0.55)]
    # Model-reviewer agreement is still there beside it.
    assert stats.agreement.decided == 7


def test_the_review_trail_view_reports_progress_without_the_note_text(factory):
    escalation_id = escalate(factory, decisions=2)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice, now=T0)
    later = T0 + timedelta(seconds=1)
    resolve(factory, escalation_id, alice, *UNSAFE, now=later, note="quotes the content")

    with session_scope(factory) as session:
        decided = review_trail(session=session, escalation_id=escalation_id)[-1]
        view = get_review(session=session, escalation_id=escalation_id, now=T0)
    assert decided.after["decision"] == "Unsafe"
    assert decided.after["has_note"] is True
    assert "quotes the content" not in str(decided.after)
    assert view.note is None  # the escalation's note is the settled decision's
