"""Operations endpoints, unauthenticated: ``/healthz`` and Prometheus ``/metrics``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client.exposition import choose_encoder
from sqlalchemy import text

from api.outage import RETRY_AFTER

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


def _check_database(request: Request) -> str:
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "down"; the reason goes to the log
        log.warning("healthz: database check failed: %s", exc)
        return f"down ({type(exc).__name__})"
    return "ok"


def _check_broker(request: Request) -> str:
    redis = request.app.state.redis
    if redis is None:
        return "down (GUARDQ_BROKER_URL is not set)"
    try:
        redis.ping()
    except Exception as exc:  # as above
        log.warning("healthz: broker check failed: %s", exc)
        return f"down ({type(exc).__name__})"
    return "ok"


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """200 when the database and the broker answer; 503 naming what is down."""
    # Each check gives up within seconds, bounded by the store's connect timeout
    # (guardq.store.db) and the Redis client's socket timeouts (api.app).
    checks = {"database": _check_database(request), "broker": _check_broker(request)}
    down = [name for name, result in checks.items() if result != "ok"]
    if down:
        body = {"status": "unavailable", "detail": f"{' and '.join(down)} unreachable"}
        return JSONResponse(
            {**body, "checks": checks}, status.HTTP_503_SERVICE_UNAVAILABLE, headers=RETRY_AFTER
        )
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format (or OpenMetrics, when the scraper's Accept asks for it)."""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(request.app.state.registry), headers={"Content-Type": content_type})
