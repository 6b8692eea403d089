"""The alert task: POST one signed event (``guardq.alerts``) from the callbacks worker.

Retried like a callback, with backoff (2 s doubling up to 5 min, 8 tries) when the
receiver is unreachable or answers 5xx, 408 or 429; final on another 4xx, and on a URL
that leads where guardq may not send (``guardq.outbound``). Log lines carry the event's
id and type, never its body.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from guardq.outbound import ForbiddenDestination
from guardq.queue import SEND_ALERT
from guardq.settings import get_settings
from worker.callbacks import CallbackFailed, deliver
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(
    name=SEND_ALERT,
    autoretry_for=(CallbackFailed, httpx.HTTPError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def send_alert(event: dict[str, Any], url: str | None = None) -> None:
    """POST ``event`` to ``url``, or to GUARDQ_ALERT_URL when it is None."""
    settings = get_settings()
    url = url or settings.alert_url
    name = f"event {event.get('id')} ({event.get('type')})"
    if url is None:
        log.warning("%s: no alert URL (GUARDQ_ALERT_URL unset); dropped", name)
        return
    if settings.signing_secret is None:
        # Never unsigned: a receiver could not tell an alert from a forgery.
        log.error("%s: GUARDQ_SIGNING_SECRET is not set on this worker; not sent", name)
        return
    headers = {"X-Guardq-Event": str(event.get("type")), "X-Guardq-Event-Id": str(event.get("id"))}
    try:
        status = deliver(url, event, headers)
    except ForbiddenDestination as exc:
        log.warning("%s: alert refused: %s", name, exc)
        return
    log.info("%s: alert answered %d", name, status)
