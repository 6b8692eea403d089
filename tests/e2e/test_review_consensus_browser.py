"""Consensus review in headless Chromium: two reviewers, two logins (two browser
contexts, so two cookie jars), one item that needs both their decisions."""

from __future__ import annotations

import pytest

from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus, KeyRole
from guardq.store.keys import create_api_key
from guardq.store.reviews import get_review, review_trail
from guardq.verdict import Severity

from ..store.reviews_helpers import escalate
from .test_review_page_browser import (  # noqa: F401  (the module's fixtures)
    chromium,
    database_url,
    factory,
    log_in,
    server,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def key_of(factory, name: str, role: KeyRole = KeyRole.REVIEWER):  # noqa: F811  (factory: the fixture)
    with session_scope(factory) as session:
        return create_api_key(session=session, name=name, role=role)


def claim_and_press(page, server: str, escalation_id, key: str) -> None:  # noqa: F811  (server)
    page.goto(f"{server}/review/items/{escalation_id}")
    page.click("text=Claim to decide")
    page.wait_for_url(f"**/review/items/{escalation_id}?claimed=1")
    page.keyboard.press(key)
    page.wait_for_url(f"{server}/review?notice=decided")


def test_two_reviewers_in_two_browsers_reach_consensus(chromium, server, factory):  # noqa: F811
    alice, bob = key_of(factory, "alice-c"), key_of(factory, "bob-c")
    escalation_id = escalate(factory, decisions=2, text="Two people must agree on this one.")

    contexts = [chromium.new_context(), chromium.new_context()]
    try:
        first, second = (context.new_page() for context in contexts)
        for page in (first, second):
            page.set_default_timeout(5_000)
        log_in(first, server, alice.key)
        log_in(second, server, bob.key)
        row = f'tr[data-id="{escalation_id}"]'
        assert "0 of 2 agreeing decisions" in first.inner_text(row)

        claim_and_press(first, server, escalation_id, "s")
        assert first.locator(row).count() == 0  # alice never sees it again
        second.reload()
        assert "1 of 2 agreeing decisions" in second.inner_text(row)

        claim_and_press(second, server, escalation_id, "s")
        assert second.locator(row).count() == 0
        second.goto(f"{server}/review/items/{escalation_id}")
        assert "2 of 2 reviewers gave this label" in second.inner_text("section.decision")
    finally:
        for context in contexts:
            context.close()

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id)
        trail = review_trail(session=session, escalation_id=escalation_id)
    assert (view.status, view.decision, view.agreed_count) == (
        EscalationStatus.RESOLVED,
        Severity.SAFE,
        2,
    )
    assert [(e.action, e.actor_name) for e in trail] == [
        ("escalated", None),
        ("claimed", "alice-c"),
        ("decided", "alice-c"),
        ("claimed", "bob-c"),
        ("resolved", "bob-c"),
    ]
