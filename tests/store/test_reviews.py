from datetime import timedelta

import pytest

from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus
from guardq.store.escalations import purge_retained_text
from guardq.store.review_errors import ReviewClosed, ReviewConflict, ReviewNotFound
from guardq.store.reviews import (
    get_review,
    list_reviews,
    release_review,
    review_trail,
)
from guardq.verdict import Category, Severity

from .reviews_helpers import LEASE, RETENTION, T0, claim, escalate, resolve, reviewer

pytestmark = pytest.mark.integration


def release(factory, escalation_id, key_id, now=T0):
    with session_scope(factory) as session:
        return release_review(
            session=session, escalation_id=escalation_id, reviewer_key_id=key_id, now=now
        )


def open_ids(factory, now=T0, **filters):
    with session_scope(factory) as session:
        return [view.id for view in list_reviews(session=session, now=now, **filters)]


def trail_actions(factory, escalation_id):
    with session_scope(factory) as session:
        return [
            event.action for event in review_trail(session=session, escalation_id=escalation_id)
        ]


def test_claim_holds_the_item_under_a_lease_and_takes_it_off_the_open_queue(factory):
    escalation_id = escalate(factory)
    alice = reviewer(factory)

    view = claim(factory, escalation_id, alice)

    assert view.status is EscalationStatus.CLAIMED
    assert (view.claimed_by, view.claimed_by_name) == (alice, "alice")
    assert view.lease_expires_at == T0 + LEASE
    assert open_ids(factory) == []
    assert open_ids(factory, status=EscalationStatus.CLAIMED) == [escalation_id]


def test_a_second_reviewer_gets_a_conflict_naming_the_holder_and_the_lease_end(factory):
    escalation_id = escalate(factory)
    alice, bob = reviewer(factory, "alice"), reviewer(factory, "bob")
    claim(factory, escalation_id, alice)

    with pytest.raises(ReviewConflict) as refused:
        claim(factory, escalation_id, bob, now=T0 + timedelta(seconds=10))

    assert "alice" in str(refused.value) and (T0 + LEASE).isoformat() in str(refused.value)
    assert refused.value.holder_key_id == alice
    assert trail_actions(factory, escalation_id) == ["escalated", "claimed"]


def test_claiming_ones_own_claim_again_renews_the_lease(factory):
    escalation_id = escalate(factory)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)

    later = T0 + timedelta(minutes=4)
    view = claim(factory, escalation_id, alice, now=later)

    assert view.lease_expires_at == later + LEASE
    assert trail_actions(factory, escalation_id) == ["escalated", "claimed", "renewed"]


def test_an_expired_lease_puts_the_item_back_in_the_queue_for_anyone(factory):
    escalation_id = escalate(factory)
    alice, bob = reviewer(factory, "alice"), reviewer(factory, "bob")
    claim(factory, escalation_id, alice)
    expired = T0 + LEASE

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id, now=expired)
    assert (view.status, view.claimed_by, view.lease_expires_at) == (
        EscalationStatus.OPEN,
        None,
        None,
    )
    assert open_ids(factory, now=expired) == [escalation_id]

    taken = claim(factory, escalation_id, bob, now=expired)

    assert taken.claimed_by == bob
    with session_scope(factory) as session:
        [*_, takeover] = review_trail(session=session, escalation_id=escalation_id)
    assert takeover.before["claimed_by"] == str(alice)
    assert takeover.after["claimed_by"] == str(bob)


def test_resolve_records_the_decision_and_when_its_text_will_be_purged(factory):
    escalation_id = escalate(factory, Severity.CONTROVERSIAL, Category.PII)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)

    decided_at = T0 + timedelta(minutes=1)
    view = resolve(
        factory, escalation_id, alice, Severity.UNSAFE, [Category.PII], decided_at, "clear PII"
    )

    assert view.status is EscalationStatus.RESOLVED
    assert (view.decision, view.decision_categories, view.note) == (
        Severity.UNSAFE,
        (Category.PII,),
        "clear PII",
    )
    assert (view.decided_by, view.decided_by_name, view.decided_at) == (alice, "alice", decided_at)
    assert view.purge_after == decided_at + RETENTION
    assert view.claimed_by is None and view.text == "some text"
    assert open_ids(factory) == []
    assert open_ids(factory, status=EscalationStatus.RESOLVED) == [escalation_id]


def test_only_the_holder_under_a_live_lease_may_resolve(factory):
    escalation_id = escalate(factory)
    alice, bob = reviewer(factory, "alice"), reviewer(factory, "bob")

    with pytest.raises(ReviewConflict, match="claim it first"):
        resolve(factory, escalation_id, alice)
    claim(factory, escalation_id, alice)
    with pytest.raises(ReviewConflict, match="alice holds it"):
        resolve(factory, escalation_id, bob)
    with pytest.raises(ReviewConflict, match="your lease expired"):
        resolve(factory, escalation_id, alice, now=T0 + LEASE)

    assert trail_actions(factory, escalation_id) == ["escalated", "claimed"]


def test_a_resolved_item_can_be_neither_claimed_nor_decided_again_nor_released(factory):
    escalation_id = escalate(factory)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)
    resolve(factory, escalation_id, alice)

    for action in (
        lambda: claim(factory, escalation_id, alice),
        lambda: resolve(factory, escalation_id, alice),
        lambda: release(factory, escalation_id, alice),
    ):
        with pytest.raises(ReviewClosed, match="already resolved \\(Safe by alice"):
            action()


def test_release_gives_the_item_back_and_only_its_holder_may(factory):
    escalation_id = escalate(factory)
    alice, bob = reviewer(factory, "alice"), reviewer(factory, "bob")
    claim(factory, escalation_id, alice)

    with pytest.raises(ReviewConflict, match="alice holds it"):
        release(factory, escalation_id, bob)
    view = release(factory, escalation_id, alice, now=T0 + timedelta(seconds=1))

    assert (view.status, view.claimed_by) == (EscalationStatus.OPEN, None)
    assert open_ids(factory) == [escalation_id]
    with pytest.raises(ReviewConflict, match="you have not claimed it"):
        release(factory, escalation_id, alice)
    assert trail_actions(factory, escalation_id) == ["escalated", "claimed", "released"]


def test_an_unknown_escalation_is_not_found(factory):
    import uuid

    alice = reviewer(factory)
    missing = uuid.uuid4()
    with pytest.raises(ReviewNotFound, match=str(missing)):
        claim(factory, missing, alice)
    with session_scope(factory) as session, pytest.raises(ReviewNotFound):
        get_review(session=session, escalation_id=missing)


@pytest.mark.parametrize(
    ("decision", "categories", "problem"),
    [
        (Severity.SAFE, [Category.PII], "a decision of Safe takes no categories"),
        (Severity.UNSAFE, [], "a decision of Unsafe needs at least one category"),
        (Severity.CONTROVERSIAL, [], "a decision of Controversial needs at least one"),
    ],
)
def test_decision_categories_must_fit_the_decision(factory, decision, categories, problem):
    escalation_id = escalate(factory)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)

    with pytest.raises(ValueError, match=f"categories: {problem}"):
        resolve(factory, escalation_id, alice, decision, categories)


def test_jailbreak_is_refused_for_a_response_item(factory):
    escalation_id = escalate(factory, text="the answer", prompt="the question")
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)

    with pytest.raises(ValueError, match="Jailbreak applies to prompt moderation only"):
        resolve(factory, escalation_id, alice, Severity.UNSAFE, [Category.JAILBREAK])


def test_resolve_records_the_reviewers_refusal_on_a_response_item_and_in_the_trail(factory):
    escalation_id = escalate(factory, text="I can't help with that", prompt="how?", refusal=False)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)

    view = resolve(factory, escalation_id, alice, now=T0 + timedelta(seconds=1), refusal=True)

    # The reviewer's reading sits beside the model's, which stays as it was.
    assert (view.decision_refusal, view.refusal) == (True, False)
    with session_scope(factory) as session:
        [*_, resolved] = review_trail(session=session, escalation_id=escalation_id)
    assert resolved.action == "resolved"
    assert resolved.after["decision_refusal"] is True


def test_a_response_item_resolved_without_a_refusal_leaves_it_unjudged(factory):
    escalation_id = escalate(factory, text="the answer", prompt="the question", refusal=True)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)

    view = resolve(factory, escalation_id, alice)

    assert (view.decision_refusal, view.refusal) == (None, True)


def test_a_refusal_is_refused_for_a_prompt_item_naming_the_field(factory):
    escalation_id = escalate(factory)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)

    with pytest.raises(ValueError, match="^refusal: applies to response moderation only"):
        resolve(factory, escalation_id, alice, refusal=False)

    assert trail_actions(factory, escalation_id) == ["escalated", "claimed"]
    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id)
    assert (view.status, view.decision_refusal) == (EscalationStatus.CLAIMED, None)


def test_every_action_leaves_a_trail_row_with_states_but_never_the_text(factory):
    secret = "zq-secret-text-4411"
    escalation_id = escalate(factory, text=secret)
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)
    release(factory, escalation_id, alice, now=T0 + timedelta(seconds=1))
    claim(factory, escalation_id, alice, now=T0 + timedelta(seconds=2))
    resolve(
        factory,
        escalation_id,
        alice,
        Severity.UNSAFE,
        [Category.VIOLENT],
        now=T0 + timedelta(seconds=3),
        note=f"quotes {secret}",
    )
    with session_scope(factory) as session:
        purge_retained_text(session=session, now=T0 + RETENTION + timedelta(days=1))
        trail = review_trail(session=session, escalation_id=escalation_id)

    assert [e.action for e in trail] == [
        "escalated",
        "claimed",
        "released",
        "claimed",
        "resolved",
        "purged",
    ]
    assert [e.actor_name for e in trail] == [None, "alice", "alice", "alice", "alice", None]
    assert [e.after.get("status") for e in trail[:5]] == [
        "open",
        "claimed",
        "open",
        "claimed",
        "resolved",
    ]
    resolved = trail[4]
    assert resolved.before["status"] == "claimed"
    assert resolved.after["decision"] == "Unsafe"
    assert resolved.after["decision_categories"] == ["Violent"]
    assert resolved.after["has_note"] is True
    assert all(secret not in repr((e.before, e.after)) for e in trail)


def test_purge_clears_the_text_but_keeps_the_hash_and_the_decision(factory):
    escalation_id = escalate(factory, text="the answer", prompt="the question")
    alice = reviewer(factory)
    claim(factory, escalation_id, alice)
    resolve(factory, escalation_id, alice, Severity.UNSAFE, [Category.VIOLENT])
    with session_scope(factory) as session:
        before = get_review(session=session, escalation_id=escalation_id)

    with session_scope(factory) as session:
        assert purge_retained_text(session=session, now=T0 + RETENTION - timedelta(1)) == 0
        assert purge_retained_text(session=session, now=T0 + RETENTION) == 1
        after = get_review(session=session, escalation_id=escalation_id)

    assert (before.text, before.prompt) == ("the answer", "the question")
    assert (after.text, after.prompt, after.text_retained) == (None, None, False)
    assert after.purged_at == T0 + RETENTION
    assert after.content_sha256 == before.content_sha256
    assert (after.decision, after.decision_categories) == (Severity.UNSAFE, (Category.VIOLENT,))


def test_a_job_that_keeps_no_text_escalates_with_its_ref_only(factory):
    escalation_id = escalate(factory, text="not to be kept", retain=False)

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id)
        [event] = review_trail(session=session, escalation_id=escalation_id)

    assert (view.text, view.text_retained, view.item_ref) == (None, False, "ref-1")
    assert view.purged_at is None
    assert event.after["text_retained"] is False


def test_the_view_carries_the_models_verdict_for_the_reviewer(factory):
    escalation_id = escalate(factory, Severity.UNSAFE, Category.VIOLENT, sampled=True)

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id)

    assert (view.severity, view.categories) == (Severity.UNSAFE, (Category.VIOLENT,))
    assert (view.prob_safe, view.prob_controversial, view.prob_unsafe) == (0.1, 0.6, 0.3)
    assert (view.span_start, view.span_end, view.mode.value) == (0, 4, "prompt")
    assert view.model_id == "demo" and view.text == "some text"
