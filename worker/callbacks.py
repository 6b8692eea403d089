"""The job-finished callback: the job's summary POSTed as JSON to its ``callback_url``.

The summary carries ids, status and counters, never content: the receiver fetches the
results through the API with its key. Torch-free; run by ``worker.tasks.send_callback``.
The URL is checked again before sending (``guardq.outbound``): an address that became
forbidden since the job was submitted is refused, and not retried. Alerts
(``worker.alerts``) go out through the same ``deliver``, signed the same way.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from guardq import outbound
from guardq.settings import get_settings
from guardq.signing import SIGNATURE_HEADER, signature_header
from guardq.store.jobs import JobProgress

# Seconds one delivery attempt may take; a slow receiver costs a retry, not a worker.
CALLBACK_TIMEOUT_S = 10.0


class CallbackFailed(Exception):
    """The receiver answered with a status worth retrying (5xx, 408, 429), or its host
    did not resolve."""


def job_summary(job: JobProgress) -> dict[str, Any]:
    """The JSON body of a job's callback."""
    return {
        "event": "job.finished",
        "job_id": str(job.id),
        "status": job.status.value,
        "mode": job.mode.value,
        "priority": job.priority.value,
        "model_id": job.model_id,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def deliver(url: str, payload: dict[str, Any], headers: dict[str, str]) -> int:
    """POST ``payload`` as JSON to ``url``, signed with ``GUARDQ_SIGNING_SECRET`` when it
    is set (``guardq.signing``); returns the status. Raises ``CallbackFailed`` or
    ``httpx.HTTPError`` when a retry may help; a 4xx other than 408/429 is final, and so
    is ``outbound.ForbiddenDestination`` (the URL now leads somewhere guardq may not go)."""
    settings = get_settings()
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "guardq", **headers}
    if settings.signing_secret is not None:
        secret = settings.signing_secret.get_secret_value()
        headers[SIGNATURE_HEADER] = signature_header(secret, body)
    try:
        response = outbound.post(
            url,
            body,
            headers=headers,
            allowed=settings.outbound_allowed,
            timeout=CALLBACK_TIMEOUT_S,
        )
    except outbound.UnresolvedHost as exc:
        raise CallbackFailed(str(exc)) from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        # The host only: a path or query may carry the receiver's token.
        raise CallbackFailed(f"{urlsplit(url).hostname} answered {response.status_code}")
    return response.status_code


def post_summary(url: str, job_id: uuid.UUID, summary: dict[str, Any]) -> int:
    """POST the job's ``summary`` to ``url`` (``deliver``); returns the status."""
    return deliver(url, summary, {"X-Guardq-Job": str(job_id)})
