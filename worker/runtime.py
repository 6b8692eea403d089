"""The heavy resources of a worker process, built once: the engine and the store.

``get_runtime()`` loads the model on the configured device (``GUARDQ_DEVICE``), warms it
up and opens the store; every task in the process shares it. ``build_runtime`` is the
same for the in-process path, which may name its own model and store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from guardq.alerts import alert_notifier, with_alerts
from guardq.policy import Policy
from guardq.realtime import notifier
from guardq.recording import Notify
from guardq.settings import get_settings
from guardq.store.db import get_session_factory
from worker.engine import GuardEngine
from worker.pipeline import BatchReport, WorkItem, process_items

log = logging.getLogger(__name__)

# A push of answers must not hold the worker long when Redis is slow or gone.
_REDIS_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Runtime:
    """A loaded engine, the model id it answers for, the store and the policy; with a
    broker, the Redis client that tells waiting requests their answers, and (with a
    signing secret) the notice that queues alerts for blocked items and new holds."""

    engine: GuardEngine
    model_id: str
    session_factory: sessionmaker[Session]
    policy: Policy
    answers: Redis | None = None
    alerts: Notify | None = None

    def process(self, items: list[WorkItem], yield_to=None) -> BatchReport:
        """``worker.pipeline.process_items`` with this runtime's resources."""
        return process_items(
            items,
            engine=self.engine,
            session_factory=self.session_factory,
            model_id=self.model_id,
            policy=self.policy,
            notify=with_alerts(
                notifier(self.answers) if self.answers is not None else None, self.alerts
            ),
            yield_to=yield_to,
        )


def build_runtime(
    *,
    model: str | None = None,
    device: str | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> Runtime:
    """Load ``model`` (default ``GUARDQ_MODEL``) on ``device``, warm it up, open the store."""
    settings = get_settings()
    model_id = model or settings.model
    engine = GuardEngine.load(model_id, device=device)
    timings = engine.warmup()
    log.info("engine warm on %s (%.2f s)", engine.placement.device, timings.total_s)
    answers = alerts = None
    factory = session_factory or get_session_factory()
    if settings.broker_url is not None and settings.signing_secret is not None:
        # Without a secret no job can have an alert URL (the API refuses it) and none
        # is configured: no query after each commit.
        from worker.celery_app import app

        alerts = alert_notifier(
            app=app,
            session_factory=factory,
            deployment_url=settings.alert_url,
            authors=settings.policy.authors,
        )
    if settings.broker_url is not None:
        answers = Redis.from_url(
            settings.broker_url,
            socket_timeout=_REDIS_TIMEOUT_S,
            socket_connect_timeout=_REDIS_TIMEOUT_S,
        )
    return Runtime(
        engine=engine,
        model_id=model_id,
        session_factory=factory,
        policy=settings.policy,
        answers=answers,
        alerts=alerts,
    )


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """The runtime of this worker process, on the configured model, device and store."""
    return build_runtime()
