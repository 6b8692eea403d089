"""The FastAPI application: ``create_app()`` wires settings, the store and the broker.

Run it with ``guardq api`` (uvicorn, factory mode). Everything the routes use lives on
``app.state``, built here once per process: the settings, the session factory, the Celery
app that sends tasks by name, a Redis client for health and queue depth, and the metrics
registry. A request that finds PostgreSQL or Redis down is answered 503 (``api.outage``).
"""

from __future__ import annotations

import logging

from celery import Celery
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from api.body_limit import BodyLimit
from api.errors import install_error_handlers
from api.metrics import GuardqCollector
from api.openapi_limits import install_openapi_limits
from api.outage import install_outage_handlers
from api.ratelimit import RateHeaders
from api.routes import (
    authors,
    batches,
    chat,
    dify,
    files,
    health,
    jobs,
    lists,
    litellm,
    moderations,
    review_page,
    reviews,
)
from guardq.heap import freeze_startup_heap
from guardq.outbound import Resolver
from guardq.settings import Settings, get_settings
from guardq.store.db import create_db_engine
from guardq.store.db import session_factory as build_session_factory
from guardq.store.models import utcnow

log = logging.getLogger(__name__)

# Health checks and scrapes must answer fast when Redis is unreachable.
_REDIS_TIMEOUT_S = 2.0


def serve_app() -> FastAPI:
    """``create_app()`` for a server process (``guardq api``), its start-up objects then
    kept out of the garbage collector's full passes (``guardq.heap``): one stopped every
    request in flight for a tenth of a second."""
    app = create_app()
    frozen = freeze_startup_heap()
    log.info("API ready (%d start-up objects kept out of garbage collection)", frozen)
    return app


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    celery_app: Celery | None = None,
    resolver: Resolver | None = None,
) -> FastAPI:
    """The API on ``settings`` (default: the process settings).

    ``session_factory`` and ``celery_app`` default to ones built from the settings; the
    Celery app is built on first use, so the API starts (and reports the broker down in
    /healthz) when GUARDQ_BROKER_URL is unset. ``resolver`` looks up the hosts of
    callback URLs (default: the system's; tests pass their own).
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="guardq",
        summary="Queue-based moderation on the Qwen3Guard-Gen safety models",
        version="0.1.0",
        # FastAPI's own OpenTelemetry hooks asked the tracer, meter and logger providers
        # (and so the environment) on every request: ~5% of the API's CPU at 16 clients.
        # guardq serves its own figures on /metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    state = app.state
    state.settings = settings
    state.session_factory = session_factory or build_session_factory(
        create_db_engine(settings.database_url)
    )
    state.celery = celery_app
    # "Now" for author holds (tests set another clock).
    state.clock = utcnow
    state.resolver = resolver
    state.redis = (
        Redis.from_url(
            settings.broker_url,
            socket_timeout=_REDIS_TIMEOUT_S,
            socket_connect_timeout=_REDIS_TIMEOUT_S,
        )
        if settings.broker_url
        else None
    )
    state.registry = CollectorRegistry(auto_describe=False)
    state.registry.register(GuardqCollector(state.session_factory, state.redis))

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    install_outage_handlers(app)
    app.add_middleware(RateHeaders)
    app.include_router(jobs.router)
    app.include_router(moderations.router)
    app.include_router(chat.router)
    app.include_router(dify.router)
    app.include_router(litellm.router)
    app.include_router(reviews.router)
    app.include_router(lists.router)
    app.include_router(authors.router)
    app.include_router(health.router)
    app.include_router(files.router)
    app.include_router(batches.router)
    review_page.install(app)
    install_openapi_limits(app, settings)
    return app
