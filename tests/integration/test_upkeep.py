"""The retention purge as beat sends it: a message on the queue, run by the real worker's
callbacks process, clearing reviewed text that is due and nothing else."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from guardq.queue import PURGE_RETAINED_TEXT
from guardq.store.db import session_scope
from guardq.store.reviews import claim_review, get_review, resolve_review, review_trail
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


def test_the_upkeep_tick_reports_an_overdue_escalation_once_in_the_log(
    session_factory, celery_app, celery_worker
):
    late = escalate(session_factory, text="waited too long", due_in=timedelta(minutes=-1))

    def overdue_rows():
        with session_scope(session_factory) as session:
            trail = review_trail(session=session, escalation_id=late)
        return [event for event in trail if event.action == "overdue"]

    celery_app.send_task(PURGE_RETAINED_TEXT)
    deadline = time.monotonic() + 60
    while not overdue_rows() and time.monotonic() < deadline:
        time.sleep(0.2)
    ticks = celery_worker.log().count("purged the retained text of")
    celery_app.send_task(PURGE_RETAINED_TEXT)
    deadline = time.monotonic() + 60
    while celery_worker.log().count("purged the retained text of") <= ticks:
        assert time.monotonic() < deadline, "the second upkeep tick did not run"
        time.sleep(0.2)

    assert len(overdue_rows()) == 1
    log = celery_worker.log()
    assert log.count(f"escalation {late} is overdue for review") == 1
    # This worker has no signing secret: the log line is the report, and no alert goes.
    assert "overdue review alert(s) queued" not in log
