from datetime import timedelta

import pytest
from sqlalchemy import update

from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus
from guardq.store.models import Escalation
from guardq.store.reviews import claim_review, list_reviews, review_stats
from guardq.verdict import Category, Severity

from .reviews_helpers import LEASE, T0, decide, escalate, reviewer

pytestmark = pytest.mark.integration


def listed(factory, now=T0, **filters):
    with session_scope(factory) as session:
        return [view.id for view in list_reviews(session=session, now=now, **filters)]


def created_at(factory, escalation_id, when):
    with session_scope(factory) as session:
        session.execute(
            update(Escalation).where(Escalation.id == escalation_id).values(created_at=when)
        )


@pytest.fixture
def queue(factory):
    """Four escalations created an hour apart, oldest first."""
    ids = {
        "controversial": escalate(factory, Severity.CONTROVERSIAL, Category.POLITICAL),
        "unsafe": escalate(factory, Severity.UNSAFE, Category.NON_VIOLENT_ILLEGAL),
        "unparsed": escalate(factory, None),
        "violent": escalate(factory, Severity.UNSAFE, Category.VIOLENT, Category.PII),
    }
    for hours, escalation_id in enumerate(ids.values()):
        created_at(factory, escalation_id, T0 - timedelta(hours=4 - hours))
    return ids


def test_oldest_first_is_the_default_order(factory, queue):
    assert listed(factory) == list(queue.values())


def test_priority_order_puts_unsafe_then_unparsed_then_controversial(factory, queue):
    assert listed(factory, order="priority") == [
        queue["unsafe"],
        queue["violent"],
        queue["unparsed"],
        queue["controversial"],
    ]


@pytest.mark.parametrize("order", ["oldest", "priority"])
def test_pages_follow_on_from_the_last_id_without_gaps_or_repeats(factory, queue, order):
    everything = listed(factory, order=order)
    first = listed(factory, order=order, limit=3)
    second = listed(factory, order=order, limit=3, after=first[-1])

    assert first + second == everything


def test_filters_by_category_exactly_not_by_substring(factory, queue):
    # "Violent" must not match inside "Non-violent Illegal Acts".
    assert listed(factory, category=Category.VIOLENT) == [queue["violent"]]
    assert listed(factory, category=Category.PII) == [queue["violent"]]
    assert listed(factory, category=Category.JAILBREAK) == []


def test_filters_by_model_severity_including_unparsed(factory, queue):
    assert listed(factory, severity=Severity.UNSAFE) == [queue["unsafe"], queue["violent"]]
    assert listed(factory, severity="unparsed") == [queue["unparsed"]]


def test_filters_by_age_and_by_job(factory, queue):
    assert listed(factory, older_than=timedelta(hours=3)) == [
        queue["controversial"],
        queue["unsafe"],
    ]
    with session_scope(factory) as session:
        [view] = list_reviews(session=session, now=T0, severity="unparsed")
    assert listed(factory, job_id=view.job_id) == [queue["unparsed"]]


def test_claimed_items_leave_the_open_list_until_their_lease_expires(factory, queue):
    alice = reviewer(factory)
    with session_scope(factory) as session:
        claim_review(
            session=session,
            escalation_id=queue["unsafe"],
            reviewer_key_id=alice,
            lease=LEASE,
            now=T0,
        )

    assert queue["unsafe"] not in listed(factory)
    assert listed(factory, status=EscalationStatus.CLAIMED) == [queue["unsafe"]]
    assert queue["unsafe"] in listed(factory, now=T0 + LEASE)
    assert listed(factory, now=T0 + LEASE, status=EscalationStatus.CLAIMED) == []


def test_bad_paging_arguments_name_the_parameter(factory, queue):
    import uuid

    with pytest.raises(ValueError, match="limit: must be between 1 and 500"):
        listed(factory, limit=0)
    with pytest.raises(ValueError, match="after: no escalation"):
        listed(factory, after=uuid.uuid4())
    with pytest.raises(ValueError, match="order: must be 'oldest', 'priority' or 'due'"):
        listed(factory, order="newest")


def test_stats_count_the_queue_its_age_decisions_and_agreement_per_category(factory, queue):
    alice, bob = reviewer(factory, "alice"), reviewer(factory, "bob")
    # Agreeing with the model: Unsafe stays Unsafe.
    decide(factory, queue["unsafe"], alice, Severity.UNSAFE, [Category.NON_VIOLENT_ILLEGAL], now=T0)
    # Disagreeing: the model's Unsafe (Violent, PII) was Safe.
    decide(factory, queue["violent"], bob, Severity.SAFE, now=T0)
    decide(factory, queue["unparsed"], bob, Severity.SAFE, now=T0)

    with session_scope(factory) as session:
        stats = review_stats(session=session, now=T0)

    assert (stats.open, stats.claimed, stats.resolved) == (1, 0, 3)
    assert stats.oldest_open_age_s == 4 * 3600
    assert [(r.name, r.decisions) for r in stats.decisions_by_reviewer] == [
        ("bob", 2),
        ("alice", 1),
    ]
    assert stats.decisions_by_reviewer[0].key_id == bob
    by_category = {
        c.value: (a.decided, a.agreed, a.rate) for c, a in stats.agreement_by_category.items()
    }
    assert by_category == {
        "Violent": (1, 0, 0.0),
        "Non-violent Illegal Acts": (1, 1, 1.0),
        "PII": (1, 0, 0.0),
    }
    assert (stats.agreement.decided, stats.agreement.agreed, stats.unparsed_decided) == (2, 1, 1)


def test_stats_of_an_empty_queue(factory):
    with session_scope(factory) as session:
        stats = review_stats(session=session, now=T0)

    assert (stats.open, stats.oldest_open_age_s, stats.agreement.rate) == (0, None, None)
    assert stats.decisions_by_reviewer == () and stats.agreement_by_category == {}
