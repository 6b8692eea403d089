"""Periodic upkeep that Celery beat sends (``guardq.queue`` holds the schedule).

The purge clears reviewed text past ``purge_after`` (decision + GUARDQ_REVIEW_RETENTION);
content hashes, verdicts and decisions stay. Safe to run twice, or late: it clears what
is due at the time it runs.
"""

from __future__ import annotations

import logging

from guardq.queue import PURGE_RETAINED_TEXT
from guardq.store.db import get_session_factory, session_scope
from guardq.store.escalations import purge_retained_text
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(name=PURGE_RETAINED_TEXT)
def purge_retained_text_task() -> int:
    """Clear the retained text that is past its retention; how many items were cleared."""
    with session_scope(get_session_factory()) as session:
        purged = purge_retained_text(session=session)
    log.info("purged the retained text of %d reviewed item(s)", purged)
    return purged
