"""Moderating now, for the endpoints that answer in another client's format.

The same path as ``POST /v1/moderations``: a realtime job through ``api.submission``
(verdict cache, policy, audit store, escalations) and the wait on its pushed answers
(``api.routes.moderations``). A wait that runs out or an item the workers could not
judge is a ``ClientError``, which each route renders in its client's format.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from api.client_errors import ClientError
from api.routes.moderations import wait_for_answers
from api.submission import submit
from api.views import job_path
from guardq.store.enums import Priority
from guardq.store.jobs import ItemResult, NewItem
from guardq.store.keys import ApiKeyInfo
from guardq.verdict import Mode


async def moderate_now(
    request: Request, key: ApiKeyInfo, *, mode: Mode, items: Sequence[NewItem]
) -> tuple[uuid.UUID, list[ItemResult]]:
    """The job id and its judged items in input order; every row has a verdict."""
    state = request.app.state
    timeout_s = state.settings.moderation_timeout_s
    job = await run_in_threadpool(
        submit,
        state,
        mode=mode,
        priority=Priority.REALTIME,
        items=items,
        callback_url=None,
        api_key_id=key.id,
    )
    rows = await wait_for_answers(state, job, timeout_s)
    if rows is None:
        raise ClientError(
            504,
            f"no verdict within {timeout_s:g} s (GUARDQ_MODERATION_TIMEOUT_S); the job goes "
            f"on: poll {job_path(job.id)}",
        )
    unjudged = [row.index for row in rows if row.verdict is None]
    if unjudged or len(rows) != len(items):
        raise ClientError(
            502,
            f"the workers could not moderate item(s) {unjudged}; see {job_path(job.id)}/results",
        )
    return job.id, sorted(rows, key=lambda row: row.index)
