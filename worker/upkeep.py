"""Periodic upkeep that Celery beat sends (``guardq.queue`` holds the schedule).

The purge clears reviewed text past ``purge_after`` (decision + GUARDQ_REVIEW_RETENTION);
content hashes, verdicts and decisions stay. Safe to run twice, or late: it clears what
is due at the time it runs.

The same tick reports escalations that went past their review deadline undecided: each
once (an ``overdue`` trail row marks it reported), as a warning in the log and, with a
signing secret, as a signed ``review.overdue`` event to the job's alert URL or the
deployment's (``guardq.alerts``). The events are queued before the trail rows commit:
if the broker refuses them, the rows roll back and the next tick reports them again.
"""

from __future__ import annotations

import logging

from guardq.alerts import queue_overdue_alerts
from guardq.queue import PURGE_RETAINED_TEXT
from guardq.settings import get_settings
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
    """Log (and alert, with a signing secret) each escalation newly past its deadline,
    once; how many."""
    settings = get_settings()
    alerted = 0
    try:
        with session_scope(get_session_factory()) as session:
            late = mark_overdue(session=session)
            if settings.signing_secret is not None:
                alerted = queue_overdue_alerts(app, session, late, settings.alert_url)
    except Exception as exc:
        if settings.signing_secret is None:
            raise
        # The broker refused the alerts: nothing was marked, the next tick tries again.
        log.error("overdue reviews not reported: %s", type(exc).__name__)
        return 0
    for escalation_id, due_at in late:
        log.warning(
            "escalation %s is overdue for review (due %s)", escalation_id, due_at.isoformat()
        )
    if alerted:
        log.info("%d overdue review alert(s) queued", alerted)
    return len(late)
