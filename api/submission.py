"""Handing a validated job to ``guardq.submit``, with its failures as HTTP answers."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

from celery import Celery
from fastapi import HTTPException, status
from redis.asyncio import Redis as AsyncRedis

from api.errors import FieldError, InputError
from api.outage import BROKER_DOWN, RETRY_AFTER, broker_unreachable
from api.views import job_path
from guardq.alerts import alert_notifier, with_alerts
from guardq.queue import make_celery
from guardq.realtime import notifier
from guardq.recording import Notify
from guardq.store.enums import Priority
from guardq.store.jobs import CreatedJob, NewItem
from guardq.submit import EnqueueError, submit_job
from guardq.verdict import Mode

_REDIS_CONNECT_TIMEOUT_S = 2.0


def celery_app(state: Any) -> Celery:
    """The Celery app that sends tasks by name, built on first use (503 without a broker)."""
    if state.celery is None:
        try:
            state.celery = make_celery(state.settings)
        except ValueError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return state.celery


def _alerts(state: Any) -> Notify | None:
    """Alerts for the blocked items the cache answers at submission, and for the author
    holds their strikes begin (``guardq.alerts``);
    None without a signing secret (then no job has an alert URL, and none is set)."""
    if state.settings.signing_secret is None or state.settings.broker_url is None:
        return None
    alerts = getattr(state, "alerts", None)
    if alerts is None:
        alerts = state.alerts = alert_notifier(
            app=celery_app(state),
            session_factory=state.session_factory,
            deployment_url=state.settings.alert_url,
            authors=state.settings.policy.authors,
        )
    return alerts


def submit(
    state: Any,
    *,
    mode: Mode,
    priority: Priority,
    items: Sequence[NewItem],
    callback_url: str | None,
    api_key_id: uuid.UUID,
    retain_text: bool = True,
    lists: Sequence[str] | None = None,
    alert_url: str | None = None,
) -> CreatedJob:
    """Commit the job, answer its cached items, enqueue the rest; 503 when the broker
    refuses the tasks. A realtime job's cached answers are pushed like the workers'
    (``guardq.realtime``), for the request that waits on them."""
    notify = None
    if priority is Priority.REALTIME and state.redis is not None:
        notify = notifier(state.redis)
    notify = with_alerts(notify, _alerts(state))
    try:
        job = submit_job(
            session_factory=state.session_factory,
            mode=mode,
            priority=priority,
            items=items,
            model_id=state.settings.model,
            callback_url=callback_url,
            alert_url=alert_url,
            api_key_id=api_key_id,
            retain_text=retain_text,
            app=celery_app(state),
            policy=state.settings.policy,
            notify=notify,
            lists=lists,
        )
    except ValueError as exc:
        # The store's own checks; api.validation has already applied them, so this is a
        # backstop. Its messages name the field and never quote content.
        raise InputError([FieldError(("items",), str(exc))]) from None
    except EnqueueError as exc:
        refused = "the broker did not take the job's tasks"
        if broker_unreachable(exc):
            refused = BROKER_DOWN
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            {
                "msg": f"{refused}: the job is marked failed, submit it again",
                "job_id": str(exc.job_id),
                "status_url": job_path(exc.job_id),
            },
            headers=RETRY_AFTER,
        ) from None
    return job


def answers_client(state: Any) -> AsyncRedis:
    """An asyncio Redis client for waiting on realtime answers, one per event loop (its
    connections belong to the loop that opened them)."""
    loop = asyncio.get_running_loop()
    clients = getattr(state, "answers_clients", None)
    if clients is None:
        clients = state.answers_clients = weakref.WeakKeyDictionary()
    client = clients.get(loop)
    if client is None:
        if state.settings.broker_url is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "GUARDQ_BROKER_URL is not set")
        client = AsyncRedis.from_url(
            state.settings.broker_url, socket_connect_timeout=_REDIS_CONNECT_TIMEOUT_S
        )
        clients[loop] = client
    return client
