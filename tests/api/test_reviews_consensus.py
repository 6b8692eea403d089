"""Consensus, deadlines and bulk decisions through the reviewer API and /metrics."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.models import Escalation, utcnow
from guardq.verdict import Category, Severity

from ..store.reviews_helpers import escalate
from .test_reviews import claim, queue, resolve

pytestmark = pytest.mark.integration

UNSAFE = {"decision": "Unsafe", "categories": ["Violent"]}


@pytest.fixture
def keys(make_key):
    return {
        "alice": make_key(KeyRole.REVIEWER, "alice"),
        "bob": make_key(KeyRole.REVIEWER, "bob"),
        "lead": make_key(KeyRole.LEAD, "dana"),
    }


def ids(page):
    return [item["id"] for item in page["items"]]


def test_two_decisions_then_a_dispute_settled_by_the_lead(client, factory, keys):
    agreed = str(escalate(factory, decisions=2))
    disputed = str(escalate(factory, decisions=2))
    alice, bob, lead = keys["alice"], keys["bob"], keys["lead"]

    for escalation_id in (agreed, disputed):
        claim(client, alice, escalation_id)
        first = resolve(client, alice, escalation_id, **UNSAFE)
        assert (first["status"], first["decisions_made"], first["decisions_required"]) == (
            "open",
            1,
            2,
        )
    # Alice never sees them again; Bob does.
    assert ids(queue(client, alice)) == []
    assert ids(queue(client, bob)) == [agreed, disputed]
    refused = claim(client, alice, agreed, expect=409)
    assert "decided it already" in refused["detail"]["msg"]

    claim(client, bob, agreed)
    done = resolve(client, bob, agreed, **UNSAFE)
    assert (done["status"], done["agreed_count"], done["decision"]) == ("resolved", 2, "Unsafe")

    claim(client, bob, disputed)
    split = resolve(client, bob, disputed)
    assert (split["status"], split["disputed"]) == ("open", True)
    assert ids(queue(client, bob)) == []
    assert ids(queue(client, lead)) == [disputed]
    resolve(client, lead, disputed, expect=409)  # a lead claims first, too
    claim(client, lead, disputed)
    settled = resolve(client, lead, disputed)
    assert (settled["status"], settled["decision"], settled["agreed_count"]) == (
        "resolved",
        "Safe",
        2,
    )
    trail = client.get(f"/v1/reviews/{disputed}", headers=lead).json()["trail"]
    assert [event["action"] for event in trail][-3:] == ["disputed", "claimed", "settled"]

    # (U,U) and (U,S): observed 1/2; the first rater always U, so chance is 1/2 too: 0.
    stats = client.get("/v1/reviews/stats", headers=lead).json()
    assert stats["inter_reviewer"] == [{"raters": 2, "method": "cohen", "items": 2, "kappa": 0.0}]
    assert stats["agreement"]["decided"] == 2


def test_order_due_and_overdue_in_the_queue_and_on_metrics(client, factory, keys):
    later = str(escalate(factory, due_in=timedelta(hours=24)))
    late = str(escalate(factory, due_in=timedelta(hours=1)))
    alice = keys["alice"]

    assert ids(queue(client, alice, order="due")) == [late, later]
    assert ids(queue(client, alice, overdue="true")) == []
    assert "guardq_reviews_overdue 0.0" in client.get("/metrics").text

    with session_scope(factory) as session:
        session.execute(
            update(Escalation)
            .where(Escalation.id == late)
            .values(due_at=utcnow() - timedelta(minutes=1))
        )
    page = queue(client, alice, overdue="true")
    assert ids(page) == [late] and page["items"][0]["overdue"] is True
    assert "guardq_reviews_overdue 1.0" in client.get("/metrics").text
    assert client.get("/v1/reviews/stats", headers=alice).json()["overdue"] == 1


def test_bulk_resolve_decides_items_of_one_content_at_once(client, factory, keys):
    alice = keys["alice"]
    same = [str(escalate(factory, Severity.UNSAFE, Category.PII, text="same")) for _ in range(2)]
    other = str(escalate(factory, Severity.CONTROVERSIAL, text="other"))
    for escalation_id in [*same, other]:
        claim(client, alice, escalation_id)

    refused = client.post(
        "/v1/reviews/bulk-resolve", json={"ids": [same[0], other], **UNSAFE}, headers=alice
    )
    assert refused.status_code == 422
    assert "same content hash" in refused.text

    answer = client.post("/v1/reviews/bulk-resolve", json={"ids": same, **UNSAFE}, headers=alice)
    assert answer.status_code == 200, answer.text
    assert [item["status"] for item in answer.json()] == ["resolved", "resolved"]
    assert ids(queue(client, alice, status="claimed")) == [other]
