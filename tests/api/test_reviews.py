import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.models import Escalation, Job
from guardq.verdict import Category, Severity

from ..store.reviews_helpers import escalate

pytestmark = pytest.mark.integration


@pytest.fixture
def alice(make_key):
    return make_key(KeyRole.REVIEWER, "alice")


@pytest.fixture
def bob(make_key):
    return make_key(KeyRole.REVIEWER, "bob")


def claim(client, headers, escalation_id, expect=200):
    response = client.post(f"/v1/reviews/{escalation_id}/claim", headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def resolve(client, headers, escalation_id, expect=200, **body):
    body = {"decision": "Safe", "categories": [], **body}
    response = client.post(f"/v1/reviews/{escalation_id}/resolve", json=body, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def queue(client, headers, **params):
    response = client.get("/v1/reviews", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_open_items_list_with_the_models_verdict_reason_and_retained_text(client, factory, alice):
    kept = escalate(factory, Severity.CONTROVERSIAL, Category.PII, text="call 555-0100")
    ref_only = escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="hidden", retain=False)

    items = queue(client, alice)["items"]

    assert [item["id"] for item in items] == [str(kept), str(ref_only)]
    first, second = items
    assert (first["severity"], first["categories"], first["reason"]) == (
        "Controversial",
        ["PII"],
        "severity Controversial",
    )
    assert first["scores"] == {"safe": 0.1, "controversial": 0.6, "unsafe": 0.3}
    assert first["span"] == {"start": 0, "end": 4}
    assert (first["text"], first["text_retained"], first["status"]) == (
        "call 555-0100",
        True,
        "open",
    )
    assert (second["text"], second["text_retained"], second["ref"]) == (None, False, "ref-1")


def test_the_queue_filters_orders_and_pages(client, factory, alice):
    controversial = escalate(factory, Severity.CONTROVERSIAL, Category.POLITICAL)
    unsafe = escalate(factory, Severity.UNSAFE, Category.NON_VIOLENT_ILLEGAL)
    unparsed = escalate(factory, None)

    assert [i["id"] for i in queue(client, alice, order="priority")["items"]] == [
        str(unsafe),
        str(unparsed),
        str(controversial),
    ]
    assert [i["id"] for i in queue(client, alice, severity="unparsed")["items"]] == [str(unparsed)]
    by_category = queue(client, alice, category="Non-violent Illegal Acts")["items"]
    assert [i["id"] for i in by_category] == [str(unsafe)]
    assert queue(client, alice, older_than_s=3600)["items"] == []

    first = queue(client, alice, limit=2)
    assert first["next_after"] == str(unsafe)
    second = client.get(first["next"], headers=alice).json()
    assert [i["id"] for i in second["items"]] == [str(unparsed)]
    assert second["next_after"] is None and second["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "violent-ish"}, "category"),
        ({"severity": "Bad"}, "severity"),
        ({"order": "newest"}, "order"),
        ({"limit": 0}, "limit"),
        ({"after": str(uuid.uuid4())}, "after"),
        ({"older_than_s": 2**31}, "older_than_s"),
    ],
)
def test_bad_queue_parameters_are_422_naming_the_parameter(client, alice, params, field):
    response = client.get("/v1/reviews", params=params, headers=alice)

    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["detail"]] == [field]


def test_claim_holds_the_item_for_the_configured_lease(client, factory, alice, settings):
    escalation_id = escalate(factory)

    claimed = claim(client, alice, escalation_id)

    assert claimed["status"] == "claimed" and claimed["claimed_by"]["name"] == "alice"
    lease_end = datetime.fromisoformat(claimed["lease_expires_at"])
    remaining = lease_end - datetime.now(lease_end.tzinfo)
    assert timedelta(seconds=settings.review_lease_s - 30) < remaining
    assert remaining <= timedelta(seconds=settings.review_lease_s)
    assert queue(client, alice)["items"] == []
    assert [i["id"] for i in queue(client, alice, status="claimed")["items"]] == [
        str(escalation_id)
    ]


def test_a_claim_on_a_held_item_is_409_naming_the_holder_and_lease_end(client, factory, alice, bob):
    escalation_id = escalate(factory)
    held = claim(client, alice, escalation_id)

    refused = client.post(f"/v1/reviews/{escalation_id}/claim", headers=bob)

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "alice holds it" in detail["msg"]
    assert detail["held_by"]["name"] == "alice"
    assert datetime.fromisoformat(detail["lease_expires_at"]) == datetime.fromisoformat(
        held["lease_expires_at"]
    )


def test_an_abandoned_claim_returns_to_the_queue_when_its_lease_expires(
    client, factory, alice, bob
):
    escalation_id = escalate(factory)
    claim(client, alice, escalation_id)
    with session_scope(factory) as session:
        session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id)
            .values(lease_expires_at=datetime.now().astimezone() - timedelta(seconds=1))
        )

    assert [i["id"] for i in queue(client, alice)["items"]] == [str(escalation_id)]
    assert claim(client, bob, escalation_id)["claimed_by"]["name"] == "bob"


def test_resolve_records_the_decision_and_the_item_leaves_the_queue(client, factory, alice):
    escalation_id = escalate(factory, Severity.CONTROVERSIAL, Category.PII)
    claim(client, alice, escalation_id)

    decided = resolve(
        client, alice, escalation_id, decision="Unsafe", categories=["PII"], note="a phone number"
    )

    assert (decided["status"], decided["decision"], decided["decision_categories"]) == (
        "resolved",
        "Unsafe",
        ["PII"],
    )
    assert decided["decided_by"]["name"] == "alice" and decided["note"] == "a phone number"
    assert datetime.fromisoformat(decided["purge_after"]) - datetime.fromisoformat(
        decided["decided_at"]
    ) == timedelta(days=7)
    assert queue(client, alice)["items"] == []
    resolved = queue(client, alice, status="resolved")["items"]
    assert [i["id"] for i in resolved] == [str(escalation_id)]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"decision": "Safe", "categories": ["PII"]}, "categories", "Safe takes no categories"),
        ({"decision": "Unsafe", "categories": []}, "categories", "needs at least one category"),
        ({"decision": "Unsafe", "categories": ["violent"]}, "categories[0]", "'Violent'"),
        ({"decision": "Allow", "categories": []}, "decision", "'Safe'"),
        ({"decision": "Safe", "note": "x" * 2001}, "note", "2000"),
        ({"decision": "Safe", "note": "a\u0000b"}, "note", "NUL character (U+0000) at position 1"),
        ({"decision": "Safe", "extra": 1}, "extra", ""),
        ({"decision": "Safe", "refusal": "yes"}, "refusal", "valid boolean"),
    ],
)
def test_a_bad_decision_is_422_naming_the_field(client, factory, alice, body, field, message):
    escalation_id = escalate(factory)
    claim(client, alice, escalation_id)

    response = client.post(f"/v1/reviews/{escalation_id}/resolve", json=body, headers=alice)

    assert response.status_code == 422
    [entry] = response.json()["detail"]
    assert entry["field"] == field and message in entry["msg"]


def test_jailbreak_on_a_response_item_is_422_naming_categories(client, factory, alice):
    escalation_id = escalate(factory, text="the answer", prompt="the question")
    claim(client, alice, escalation_id)

    response = resolve(
        client, alice, escalation_id, expect=422, decision="Unsafe", categories=["Jailbreak"]
    )

    assert response["detail"][0]["field"] == "categories"
    assert "prompt moderation only" in response["detail"][0]["msg"]


def test_resolve_records_the_reviewers_refusal_on_a_response_item(client, factory, alice):
    escalation_id = escalate(factory, text="Sure, here it is", prompt="help?", refusal=True)
    claim(client, alice, escalation_id)

    decided = resolve(client, alice, escalation_id, refusal=False)

    assert (decided["decision_refusal"], decided["refusal"]) == (False, True)
    detail = client.get(f"/v1/reviews/{escalation_id}", headers=alice).json()
    assert detail["decision_refusal"] is False
    assert detail["trail"][-1]["after"]["decision_refusal"] is False


def test_a_refusal_on_a_prompt_item_is_422_naming_refusal(client, factory, alice):
    escalation_id = escalate(factory)
    claim(client, alice, escalation_id)

    response = resolve(client, alice, escalation_id, expect=422, refusal=True)

    [entry] = response["detail"]
    assert entry["field"] == "refusal"
    assert "response moderation only" in entry["msg"]
    item = client.get(f"/v1/reviews/{escalation_id}", headers=alice).json()
    assert (item["status"], item["decision_refusal"]) == ("claimed", None)


def test_deciding_or_releasing_an_item_one_does_not_hold_is_409(client, factory, alice, bob):
    escalation_id = escalate(factory)

    assert "claim it first" in resolve(client, alice, escalation_id, expect=409)["detail"]["msg"]
    claim(client, alice, escalation_id)
    assert "alice holds it" in resolve(client, bob, escalation_id, expect=409)["detail"]["msg"]
    refused = client.post(f"/v1/reviews/{escalation_id}/release", headers=bob)
    assert refused.status_code == 409


def test_a_resolved_item_is_409_already_resolved(client, factory, alice):
    escalation_id = escalate(factory)
    claim(client, alice, escalation_id)
    resolve(client, alice, escalation_id)

    refused = claim(client, alice, escalation_id, expect=409)

    assert "already resolved (Safe by alice" in refused["detail"]["msg"]
    assert refused["detail"]["decision"] == "Safe"


def test_release_puts_the_item_back_in_the_queue(client, factory, alice):
    escalation_id = escalate(factory)
    claim(client, alice, escalation_id)

    response = client.post(f"/v1/reviews/{escalation_id}/release", headers=alice)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["claimed_by"]) == ("open", None)
    assert [i["id"] for i in queue(client, alice)["items"]] == [str(escalation_id)]


@pytest.mark.parametrize("action", ["claim", "resolve", "release"])
def test_an_unknown_item_is_404(client, alice, action):
    missing = uuid.uuid4()
    body = {"decision": "Safe"} if action == "resolve" else None

    response = client.post(f"/v1/reviews/{missing}/{action}", json=body, headers=alice)

    assert response.status_code == 404
    assert response.json()["detail"] == f"escalation {missing} not found"
    assert client.get(f"/v1/reviews/{missing}", headers=alice).status_code == 404


def test_an_items_page_carries_its_audit_trail(client, factory, alice):
    escalation_id = escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="zq-secret-8812")
    claim(client, alice, escalation_id)
    client.post(f"/v1/reviews/{escalation_id}/release", headers=alice)
    claim(client, alice, escalation_id)
    resolve(client, alice, escalation_id, decision="Unsafe", categories=["Violent"])

    detail = client.get(f"/v1/reviews/{escalation_id}", headers=alice).json()

    trail = detail["trail"]
    assert [e["action"] for e in trail] == [
        "escalated",
        "claimed",
        "released",
        "claimed",
        "resolved",
    ]
    assert [e["actor"] and e["actor"]["name"] for e in trail] == [None] + ["alice"] * 4
    assert (trail[-1]["before"]["status"], trail[-1]["after"]["status"]) == ("claimed", "resolved")
    assert trail[-1]["after"]["decision"] == "Unsafe"
    assert "zq-secret-8812" not in str(trail)
    assert detail["text"] == "zq-secret-8812"


def test_stats_report_the_queue_and_agreement_per_category(client, factory, alice, bob):
    agreed = escalate(factory, Severity.UNSAFE, Category.VIOLENT)
    overruled = escalate(factory, Severity.CONTROVERSIAL, Category.POLITICAL)
    escalate(factory, Severity.CONTROVERSIAL, Category.PII)
    claim(client, alice, agreed)
    resolve(client, alice, agreed, decision="Unsafe", categories=["Violent"])
    claim(client, bob, overruled)
    resolve(client, bob, overruled, decision="Safe")

    response = client.get("/v1/reviews/stats", headers=alice)

    assert response.status_code == 200
    stats = response.json()
    assert (stats["open"], stats["claimed"], stats["resolved"]) == (1, 0, 2)
    assert stats["oldest_open_age_s"] >= 0
    assert sorted((r["key"]["name"], r["decisions"]) for r in stats["decisions_by_reviewer"]) == [
        ("alice", 1),
        ("bob", 1),
    ]
    assert stats["agreement_by_category"] == {
        "Violent": {"decided": 1, "agreed": 1, "rate": 1.0},
        "Politically Sensitive Topics": {"decided": 1, "agreed": 0, "rate": 0.0},
    }
    assert stats["agreement"] == {"decided": 2, "agreed": 1, "rate": 0.5}


def test_producers_cannot_review_and_reviewers_cannot_submit(client, factory, producer, alice):
    escalation_id = escalate(factory)

    for method, path in [
        ("get", "/v1/reviews"),
        ("get", "/v1/reviews/stats"),
        ("get", f"/v1/reviews/{escalation_id}"),
        ("post", f"/v1/reviews/{escalation_id}/claim"),
        ("post", f"/v1/reviews/{escalation_id}/release"),
    ]:
        response = client.request(method, path, headers=producer)
        assert response.status_code == 403, path
        assert "reviewer or lead or admin key" in response.json()["detail"]

    job = {"items": [{"text": "hello"}]}
    assert client.post("/v1/jobs", json=job, headers=alice).status_code == 403
    assert client.post("/v1/moderations", json={"input": "hi"}, headers=alice).status_code == 403
    assert client.get("/v1/reviews").status_code == 401


def test_an_admin_key_may_both_review_and_submit(client, factory, make_key):
    admin = make_key(KeyRole.ADMIN, "root")
    escalation_id = escalate(factory)

    assert claim(client, admin, escalation_id)["claimed_by"]["name"] == "root"
    job = {"items": [{"text": "hello"}]}
    assert client.post("/v1/jobs", json=job, headers=admin).status_code == 202


def test_a_producer_may_keep_escalated_text_out_of_the_store(client, factory, producer):
    body = {"items": [{"text": "hello", "ref": "msg-1"}], "retain_text": False}

    response = client.post("/v1/jobs", json=body, headers=producer)

    assert response.status_code == 202 and response.json()["retain_text"] is False
    with session_scope(factory) as session:
        assert session.scalar(select(Job.retain_text)) is False
    default = client.post("/v1/jobs", json={"items": [{"text": "x"}]}, headers=producer)
    assert default.json()["retain_text"] is True
    wrong = client.post("/v1/jobs", json={**body, "retain_text": "no"}, headers=producer)
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "retain_text"
