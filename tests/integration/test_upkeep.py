"""The retention purge as beat sends it: a message on the queue, run by the real worker's
callbacks process, clearing reviewed text that is due and nothing else."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from guardq.queue import PURGE_RETAINED_TEXT
from guardq.store.db import session_scope
from guardq.store.reviews import claim_review, get_review, resolve_review
from guardq.verdict import Category, Severity

from ..store.reviews_helpers import LEASE, escalate, reviewer

pytestmark = pytest.mark.integration


def test_the_purge_task_on_the_queue_clears_due_text_and_keeps_hash_and_decision(
    session_factory, celery_app, celery_worker
):
    alice = reviewer(session_factory, "upkeep-alice")
    due = escalate(session_factory, Severity.UNSAFE, Category.VIOLENT, text="due for purge")
    kept = escalate(session_factory, Severity.UNSAFE, Category.VIOLENT, text="still kept")
    for escalation_id, retention in ((due, timedelta(0)), (kept, timedelta(days=7))):
        with session_scope(session_factory) as session:
            claim_review(
                session=session, escalation_id=escalation_id, reviewer_key_id=alice, lease=LEASE
            )
            resolve_review(
                session=session,
                escalation_id=escalation_id,
                reviewer_key_id=alice,
                decision=Severity.UNSAFE,
                categories=[Category.VIOLENT],
                note=None,
                retention=retention,
            )

    with session_scope(session_factory) as session:
        before = get_review(session=session, escalation_id=due)

    celery_app.send_task(PURGE_RETAINED_TEXT)

    deadline = time.monotonic() + 60
    while True:
        with session_scope(session_factory) as session:
            purged = get_review(session=session, escalation_id=due)
            untouched = get_review(session=session, escalation_id=kept)
        if purged.text is None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert purged.text is None and purged.purged_at is not None
    assert (purged.decision, purged.decision_categories) == (Severity.UNSAFE, (Category.VIOLENT,))
    assert purged.content_sha256 == before.content_sha256
    assert untouched.text == "still kept"
    assert "purged the retained text of" in celery_worker.log()
