"""The reviewer page's consensus, deadline and bulk-decision parts, through its forms."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.app import create_app
from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus, KeyRole
from guardq.store.models import Escalation, utcnow
from guardq.store.reviews import get_review
from guardq.verdict import Category, Severity

from ..store.reviews_helpers import escalate
from .review_page_samples import csrf_of, log_in
from .test_review_page import raw_key

pytestmark = pytest.mark.integration


@pytest.fixture
def browser(settings, factory, redis):
    """A second, independent browser session on the same app: one login each."""
    clients = []

    def open_one(key: str) -> TestClient:
        client = TestClient(create_app(settings, session_factory=factory))
        client.__enter__()
        clients.append(client)
        assert log_in(client, key).status_code == 303
        return client

    yield open_one
    for client in clients:
        client.__exit__(None, None, None)


def claim_and_decide(client, escalation_id, decision, categories=()):
    queue = client.get("/review")
    csrf = csrf_of(queue.text)
    claimed = client.post(f"/review/items/{escalation_id}/claim", data={"csrf": csrf})
    assert claimed.status_code == 200, claimed.text
    return client.post(
        f"/review/items/{escalation_id}/decide",
        data={"csrf": csrf, "decision": decision, "categories": list(categories)},
    )


def test_two_reviewers_agree_through_the_page_with_two_logins(browser, make_key, factory):
    escalation_id = escalate(factory, decisions=2)
    alice = browser(raw_key(make_key, KeyRole.REVIEWER, "alice"))
    bob = browser(raw_key(make_key, KeyRole.REVIEWER, "bob"))

    assert "0 of 2 agreeing decisions" in alice.get("/review").text
    first = claim_and_decide(alice, escalation_id, "Unsafe", ["Violent"])
    assert "Decision recorded" in first.text
    assert str(escalation_id) not in alice.get("/review").text  # never shown to her again
    assert "1 of 2 agreeing decisions" in bob.get("/review").text

    claim_and_decide(bob, escalation_id, "Unsafe", ["Violent"])

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id)
    assert (view.status, view.decision, view.agreed_count) == (
        EscalationStatus.RESOLVED,
        Severity.UNSAFE,
        2,
    )
    page = bob.get(f"/review/items/{escalation_id}").text
    assert "2 of 2 reviewers gave this label" in page


def test_a_dispute_reaches_only_the_leads_queue(browser, make_key, factory):
    escalation_id = escalate(factory, decisions=2)
    alice = browser(raw_key(make_key, KeyRole.REVIEWER, "alice"))
    bob = browser(raw_key(make_key, KeyRole.REVIEWER, "bob"))
    lead = browser(raw_key(make_key, KeyRole.LEAD, "dana"))
    claim_and_decide(alice, escalation_id, "Unsafe", ["Violent"])
    claim_and_decide(bob, escalation_id, "Safe")

    assert str(escalation_id) not in bob.get("/review").text
    queue = lead.get("/review").text
    assert "a lead settles it" in queue
    claim_and_decide(lead, escalation_id, "Safe")

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id)
    assert (view.decision, view.decided_by_name, view.agreed_count) == (Severity.SAFE, "dana", 2)


def test_the_queue_orders_by_deadline_and_marks_overdue_items(client, make_key, factory):
    assert log_in(client, raw_key(make_key, KeyRole.REVIEWER)).status_code == 303
    later = escalate(factory, due_in=timedelta(hours=24))
    late = escalate(factory, due_in=timedelta(hours=2))
    with session_scope(factory) as session:
        session.execute(
            update(Escalation)
            .where(Escalation.id == late)
            .values(due_at=utcnow() - timedelta(minutes=30))
        )

    page = client.get("/review", params={"order": "due"}).text

    assert page.index(str(late)) < page.index(str(later))
    assert f'<tr data-id="{late}" class="overdue">' in page
    assert "overdue by 30 min" in page or "overdue by 29 min" in page
    assert f'<tr data-id="{later}">' in page
    item = client.get(f"/review/items/{late}").text
    assert 'class="deadline late"' in item


def test_bulk_decision_from_the_claimed_list(client, make_key, factory):
    assert log_in(client, raw_key(make_key, KeyRole.REVIEWER)).status_code == 303
    same = [escalate(factory, Severity.UNSAFE, Category.PII, text="same") for _ in range(2)]
    queue = client.get("/review")
    csrf = csrf_of(queue.text)
    for escalation_id in same:
        client.post(f"/review/items/{escalation_id}/claim", data={"csrf": csrf})
    queue = client.get("/review").text
    assert 'name="ids"' in queue and "Decide the ticked items at once" in queue

    answer = client.post(
        "/review/bulk-decide",
        data={
            "csrf": csrf,
            "ids": [str(i) for i in same],
            "decision": "Unsafe",
            "categories": ["PII"],
        },
    )

    assert "Decisions recorded for the selected items" in answer.text
    with session_scope(factory) as session:
        views = [get_review(session=session, escalation_id=i) for i in same]
    assert [(v.status, v.decision) for v in views] == [
        (EscalationStatus.RESOLVED, Severity.UNSAFE)
    ] * 2

    refused = client.post(
        "/review/bulk-decide", data={"csrf": csrf, "ids": [str(same[0])], "decision": "Safe"}
    )
    assert refused.status_code == 422 and "at least 2" in refused.text


def test_the_check_page_needs_a_reviewer_and_names_bad_input(client, make_key):
    assert client.get("/review/check", follow_redirects=False).status_code == 303
    assert log_in(client, raw_key(make_key, KeyRole.LEAD)).status_code == 303

    form = client.get("/review/check")
    assert form.status_code == 200 and 'action="/review/check"' in form.text

    blank = client.post("/review/check", data={"csrf": csrf_of(form.text), "text": "  "})
    assert blank.status_code == 422
    assert "items[0].text: is empty or whitespace only" in blank.text
    missing = client.post(
        "/review/check", data={"csrf": csrf_of(form.text), "mode": "response", "text": "ok"}
    )
    assert missing.status_code == 422 and "prompt" in missing.text
    forged = client.post("/review/check", data={"csrf": "nope", "text": "hello"})
    assert forged.status_code == 403
