"""Periodic upkeep that Celery beat sends (``guardq.queue`` holds the schedule).

The purge clears reviewed text past ``purge_after`` (decision + GUARDQ_REVIEW_RETENTION);
content hashes, verdicts and decisions stay. Safe to run twice, or late: it clears what
is due at the time it runs.

The same tick reports escalations that went past their review deadline undecided: each
once (an ``overdue`` trail row marks it reported), as a warning in the log. guardq has
no alert URL to post them to yet; a log-based alert (or ``guardq_reviews_overdue`` on
/metrics) picks them up.
"""

from __future__ import annotations

import logging

from guardq.queue import PURGE_RETAINED_TEXT
from guardq.store.db import get_session_factory, session_scope
from guardq.store.escalations import mark_overdue, purge_retained_text
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(name=PURGE_RETAINED_TEXT)
def purge_retained_text_task() -> int:
    """Clear the retained text that is past its retention; how many items were cleared."""
    with session_scope(get_session_factory()) as session:
        purged = purge_retained_text(session=session)
    log.info("purged the retained text of %d reviewed item(s)", purged)
    report_overdue()
    return purged


def report_overdue() -> int:
    """Log each escalation newly past its deadline, once; how many."""
    with session_scope(get_session_factory()) as session:
        late = mark_overdue(session=session)
    for escalation_id, due_at in late:
        log.warning(
            "escalation %s is overdue for review (due %s); no alert URL is configured, "
            "so this log line is the alert",
            escalation_id,
            due_at.isoformat(),
        )
    return len(late)
