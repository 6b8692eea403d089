"""The reviewer page (/review) through its HTML forms, on the real Postgres store."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from api.review_session import LOGIN_COOKIE, SESSION_COOKIE
from api.routes import review_page
from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus, KeyRole
from guardq.store.models import Escalation, utcnow
from guardq.store.reviews import claim_review, get_review, review_trail
from guardq.verdict import Category, Severity

from .review_page_samples import csrf_of, escalate, log_in

pytestmark = pytest.mark.integration


def raw_key(make_key, role: KeyRole, name: str = "alice") -> str:
    return make_key(role, name)["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def reviewer_client(client, make_key):
    """The test client, logged in to the page with a reviewer key."""
    assert log_in(client, raw_key(make_key, KeyRole.REVIEWER)).status_code == 303
    return client


def claim_via_page(client, escalation_id):
    queue = client.get("/review")
    return client.post(
        f"/review/items/{escalation_id}/claim",
        data={"csrf": csrf_of(queue.text)},
        follow_redirects=True,
    )


def status_of(factory, escalation_id):
    with session_scope(factory) as session:
        return get_review(session=session, escalation_id=escalation_id)


# --- login -------------------------------------------------------------------------


def test_login_with_a_reviewer_key_sets_a_strict_httponly_cookie_and_opens_the_queue(
    client, make_key
):
    answer = log_in(client, raw_key(make_key, KeyRole.REVIEWER))

    assert answer.status_code == 303
    assert answer.headers["location"] == "/review"
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/review" in cookie
    queue = client.get("/review")
    assert queue.status_code == 200
    assert "Open escalations" in queue.text
    assert "alice" in queue.text


def test_login_accepts_an_admin_key(client, make_key):
    assert log_in(client, raw_key(make_key, KeyRole.ADMIN)).status_code == 303


def test_login_refuses_a_producer_key_with_a_clear_message(client, make_key):
    answer = log_in(client, raw_key(make_key, KeyRole.PRODUCER))

    assert answer.status_code == 403
    assert "This is a producer key" in answer.text
    assert "needs a reviewer, lead or admin key" in answer.text
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_login_refuses_an_unknown_key(client):
    answer = log_in(client, "gq_not-a-key")

    assert answer.status_code == 401
    assert "Unknown or revoked API key" in answer.text


def test_login_without_the_forms_token_is_refused(client, make_key):
    key = raw_key(make_key, KeyRole.REVIEWER)
    client.get("/review/login")

    answer = client.post("/review/login", data={"api_key": key, "csrf": "forged"})

    assert answer.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert LOGIN_COOKIE in client.cookies


def test_pages_without_a_session_send_the_browser_to_the_login_form(client, factory):
    escalation_id = escalate(factory)

    for path in ("/review", f"/review/items/{escalation_id}"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/review/login"


def test_logout_ends_the_session(reviewer_client):
    queue = reviewer_client.get("/review")

    answer = reviewer_client.post("/review/logout", data={"csrf": csrf_of(queue.text)})

    assert answer.status_code == 200
    assert "Logged out." in answer.text
    assert reviewer_client.get("/review", follow_redirects=False).status_code == 303


def test_a_revoked_key_loses_its_page_session(reviewer_client, factory):
    from guardq.store.keys import list_api_keys, revoke_api_key

    with session_scope(factory) as session:
        (key,) = list_api_keys(session=session)
        revoke_api_key(session=session, key_id=key.id)

    assert reviewer_client.get("/review", follow_redirects=False).status_code == 303


# --- the queue ---------------------------------------------------------------------


def test_queue_lists_open_items_with_their_age_reason_and_escaped_text(reviewer_client, factory):
    escalate(factory, "<script>alert('x')</script> & <b>bold</b>")

    page = reviewer_client.get("/review")

    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in (
        page.text
    )
    assert "<script>alert" not in page.text
    assert "severity Controversial" in page.text
    assert "Politically Sensitive Topics" in page.text
    assert " s</td>" in page.text  # the age, in seconds
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_queue_filters_by_category_and_severity(reviewer_client, factory):
    escalate(factory, "political text")
    escalate(factory, "violent text", severity=Severity.UNSAFE, categories=(Category.VIOLENT,))

    by_category = reviewer_client.get("/review", params={"category": "Violent"}).text
    by_severity = reviewer_client.get("/review", params={"severity": "Controversial"}).text

    assert "violent text" in by_category and "political text" not in by_category
    assert "political text" in by_severity and "violent text" not in by_severity


def test_queue_pages_on_with_a_next_link(reviewer_client, factory, monkeypatch):
    monkeypatch.setattr(review_page, "QUEUE_LIMIT", 1)
    escalate(factory, "page one")
    escalate(factory, "page two")

    first = reviewer_client.get("/review").text
    link = re.search(r'href="(/review\?[^"]+)">Next page', first).group(1)
    second = reviewer_client.get(link.replace("&amp;", "&")).text

    assert "page one" in first and "page two" not in first
    assert "page two" in second and "page one" not in second
    assert "Next page" not in second


def test_queue_refuses_an_unknown_filter_value_by_name(reviewer_client):
    page = reviewer_client.get("/review", params={"category": "Rude"})

    assert page.status_code == 422
    assert "Unknown filter value" in page.text


def test_claim_next_takes_the_oldest_open_item(reviewer_client, factory):
    oldest = escalate(factory, "first in")
    escalate(factory, "second in")
    queue = reviewer_client.get("/review")

    answer = reviewer_client.post(
        "/review/claim-next", data={"csrf": csrf_of(queue.text), "order": "oldest"}
    )

    assert answer.status_code == 200
    assert str(answer.url).endswith(f"/review/items/{oldest}?claimed=1")
    assert status_of(factory, oldest).status is EscalationStatus.CLAIMED


def test_claim_next_on_an_empty_queue_says_there_is_nothing_left(reviewer_client):
    queue = reviewer_client.get("/review")

    answer = reviewer_client.post("/review/claim-next", data={"csrf": csrf_of(queue.text)})

    assert "Nothing left to claim" in answer.text


def test_queue_lists_the_reviewers_own_claims_apart(reviewer_client, factory):
    escalation_id = escalate(factory, "held by me")
    claim_via_page(reviewer_client, escalation_id)

    page = reviewer_client.get("/review").text

    assert "Claimed by you" in page
    assert f'href="/review/items/{escalation_id}"' in page
    assert f'data-id="{escalation_id}"' not in page


# --- one item ----------------------------------------------------------------------


def test_claimed_item_shows_its_text_with_the_deciding_span_highlighted(reviewer_client, factory):
    text = "hello there, <attack> plan here; bye"
    escalation_id = escalate(
        factory, text, severity=Severity.UNSAFE, span=(13, 26), scores=(0.01, 0.04, 0.95)
    )

    page = claim_via_page(reviewer_client, escalation_id)

    assert page.status_code == 200
    assert '<mark id="span">&lt;attack&gt; plan</mark> here; bye' in page.text
    assert "characters 13–26" in page.text
    assert "95.0%" in page.text and "4.0%" in page.text and "1.0%" in page.text
    assert 'data-key="u"' in page.text and 'data-key="s"' in page.text
    assert 'class="clock"' in page.text
    assert "<kbd>1</kbd> Violent" in page.text


def test_item_without_retained_text_shows_the_producers_ref_and_says_why(reviewer_client, factory):
    escalation_id = escalate(factory, "secret", retain=False, ref="ticket-42")

    page = claim_via_page(reviewer_client, escalation_id)

    assert "The text was not retained" in page.text
    assert "the producer chose not to send it" in page.text
    assert "<code>ticket-42</code>" in page.text
    assert "secret" not in page.text


def test_unparsed_verdict_is_shown_as_such(reviewer_client, factory):
    escalation_id = escalate(factory, severity=None, scores=None)

    page = reviewer_client.get(f"/review/items/{escalation_id}")

    assert "unparsed output" in page.text
    assert "no Safety line" in page.text
    assert "Not recorded for this verdict." in page.text


def test_decide_by_form_records_the_decision_and_the_item_leaves_the_queue(
    reviewer_client, factory
):
    escalation_id = escalate(factory, "decide me")
    page = claim_via_page(reviewer_client, escalation_id)

    answer = reviewer_client.post(
        f"/review/items/{escalation_id}/decide",
        data={
            "csrf": csrf_of(page.text),
            "decision": "Unsafe",
            "categories": ["Violent", "PII"],
            "note": "  threat with an address ",
        },
    )

    assert answer.status_code == 200
    assert "Decision recorded" in answer.text
    assert "decide me" not in answer.text
    view = status_of(factory, escalation_id)
    assert view.status is EscalationStatus.RESOLVED
    assert view.decision is Severity.UNSAFE
    assert view.decision_categories == (Category.VIOLENT, Category.PII)
    assert view.note == "threat with an address"
    with session_scope(factory) as session:
        actions = [e.action for e in review_trail(session=session, escalation_id=escalation_id)]
    assert actions == ["escalated", "claimed", "resolved"]


_RADIO = re.compile(
    r'<input type="radio" name="refusal" value="(\w+)" data-key="(\w)"\s*(checked)?>'
)


def refusal_radios(html: str) -> dict[str, tuple[str, bool]]:
    """The refusal radio's options: form value -> (shortcut key, pre-selected)."""
    return {value: (key, bool(checked)) for value, key, checked in _RADIO.findall(html)}


def test_response_item_offers_a_refusal_radio_preset_from_the_model(reviewer_client, factory):
    answered = escalate(factory, "Sorry, I can't.", prompt="how do I?", refusal=True)
    unknown = escalate(factory, "Here is how.", prompt="how do I?")
    prompt_only = escalate(factory, "just a prompt")

    answered_page = claim_via_page(reviewer_client, answered).text

    assert refusal_radios(answered_page) == {"yes": ("y", True), "no": ("o", False)}
    assert "<kbd>y</kbd> Yes" in answered_page and "<kbd>o</kbd> No" in answered_page
    # y/o join s/c/u, the category numbers, n and r: each key still presses one control.
    keys = re.findall(r'data-key="([^"]+)"', answered_page)
    assert len(keys) == len(set(keys)) and {"y", "o", "n", "r", "s"} <= set(keys)
    # The model left it unknown: nothing is chosen for the reviewer.
    unknown_page = claim_via_page(reviewer_client, unknown).text
    assert refusal_radios(unknown_page) == {"yes": ("y", False), "no": ("o", False)}
    assert refusal_radios(claim_via_page(reviewer_client, prompt_only).text) == {}


def test_decide_by_form_records_the_reviewers_refusal(reviewer_client, factory):
    escalation_id = escalate(factory, "Sure, step one...", prompt="how do I?", refusal=True)
    page = claim_via_page(reviewer_client, escalation_id)

    answer = reviewer_client.post(
        f"/review/items/{escalation_id}/decide",
        data={"csrf": csrf_of(page.text), "decision": "Safe", "refusal": "no"},
    )

    assert "Decision recorded" in answer.text
    view = status_of(factory, escalation_id)
    assert (view.decision, view.decision_refusal, view.refusal) == (Severity.SAFE, False, True)
    decided = reviewer_client.get(f"/review/items/{escalation_id}").text
    assert "refusal: No" in decided


def test_a_refusal_posted_for_a_prompt_item_is_refused_with_the_reason(reviewer_client, factory):
    escalation_id = escalate(factory)
    page = claim_via_page(reviewer_client, escalation_id)

    answer = reviewer_client.post(
        f"/review/items/{escalation_id}/decide",
        data={"csrf": csrf_of(page.text), "decision": "Safe", "refusal": "yes"},
    )

    assert answer.status_code == 422
    assert "refusal: applies to response moderation only" in answer.text
    assert status_of(factory, escalation_id).status is EscalationStatus.CLAIMED


def test_safe_decision_drops_ticked_categories(reviewer_client, factory):
    escalation_id = escalate(factory)
    page = claim_via_page(reviewer_client, escalation_id)

    reviewer_client.post(
        f"/review/items/{escalation_id}/decide",
        data={"csrf": csrf_of(page.text), "decision": "Safe", "categories": ["Violent"]},
    )

    view = status_of(factory, escalation_id)
    assert (view.decision, view.decision_categories) == (Severity.SAFE, ())


def test_unsafe_decision_without_a_category_is_refused_with_the_reason(reviewer_client, factory):
    escalation_id = escalate(factory)
    page = claim_via_page(reviewer_client, escalation_id)

    answer = reviewer_client.post(
        f"/review/items/{escalation_id}/decide",
        data={"csrf": csrf_of(page.text), "decision": "Unsafe"},
    )

    assert answer.status_code == 422
    assert "needs at least one category" in answer.text
    assert status_of(factory, escalation_id).status is EscalationStatus.CLAIMED


def test_a_note_the_store_cannot_hold_is_refused_with_the_reason(reviewer_client, factory):
    escalation_id = escalate(factory)
    page = claim_via_page(reviewer_client, escalation_id)

    answer = reviewer_client.post(
        f"/review/items/{escalation_id}/decide",
        data={"csrf": csrf_of(page.text), "decision": "Safe", "note": "ok\u0000"},
    )

    assert answer.status_code == 422
    assert "note: contains the NUL character (U+0000) at position 2" in answer.text
    assert status_of(factory, escalation_id).status is EscalationStatus.CLAIMED


def test_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(
    reviewer_client, factory
):
    escalation_id = escalate(factory)

    for token in ("", "0" * 64):
        answer = reviewer_client.post(f"/review/items/{escalation_id}/claim", data={"csrf": token})
        assert answer.status_code == 403
        assert "security token did not match" in answer.text
    assert status_of(factory, escalation_id).status is EscalationStatus.OPEN


def test_expired_lease_is_announced_and_deciding_is_refused(reviewer_client, factory):
    escalation_id = escalate(factory, "slow review")
    page = claim_via_page(reviewer_client, escalation_id)
    with session_scope(factory) as session:
        session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )

    reloaded = reviewer_client.get(f"/review/items/{escalation_id}?claimed=1")
    answer = reviewer_client.post(
        f"/review/items/{escalation_id}/decide",
        data={"csrf": csrf_of(page.text), "decision": "Safe"},
    )

    for html in (reloaded.text, answer.text):
        assert "Your lease has expired" in html
        assert 'value="Safe" data-key="s"\n              class="sev-safe" disabled' in html
        assert "Claim again" in html
    assert answer.status_code == 409
    assert "your lease expired" in answer.text
    assert status_of(factory, escalation_id).decision is None


def test_item_held_by_another_reviewer_cannot_be_claimed(reviewer_client, factory, make_key):
    escalation_id = escalate(factory)
    other = make_key(KeyRole.REVIEWER, "bob")
    with session_scope(factory) as session:
        from guardq.store.keys import verify_api_key

        bob = verify_api_key(session=session, key=other["Authorization"].removeprefix("Bearer "))
        claim_review(
            session=session,
            escalation_id=escalation_id,
            reviewer_key_id=bob.id,
            lease=timedelta(minutes=5),
        )

    answer = claim_via_page(reviewer_client, escalation_id)

    assert answer.status_code == 409
    assert "bob holds it" in answer.text
    assert "Another reviewer holds this item" in answer.text


def test_release_returns_the_item_to_the_queue(reviewer_client, factory):
    escalation_id = escalate(factory, "give it back")
    page = claim_via_page(reviewer_client, escalation_id)

    answer = reviewer_client.post(
        f"/review/items/{escalation_id}/release", data={"csrf": csrf_of(page.text)}
    )

    assert "back in the queue" in answer.text
    assert "give it back" in answer.text
    assert status_of(factory, escalation_id).status is EscalationStatus.OPEN


def test_unknown_item_is_a_404_page(reviewer_client):
    page = reviewer_client.get("/review/items/00000000-0000-0000-0000-000000000000")

    assert page.status_code == 404
    assert "There is no escalation" in page.text


def test_static_script_and_style_are_served(client):
    assert "data-key" in client.get("/review/static/review.js").text
    assert "mark" in client.get("/review/static/review.css").text
