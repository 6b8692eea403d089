"""Answers when a store is down: 503 with ``Retry-After``, naming the store, never a 500.

A request that finds PostgreSQL or Redis unreachable fails wherever it first reaches
the store (the API key lookup, a route's query, publishing tasks) with the driver's
exception. The handlers installed here turn each into one answer: ``{"detail": "the
audit store (PostgreSQL) is unreachable"}`` (or ``the broker (Redis)``) from the JSON
API, the same sentence as a page under ``/review``.

Only errors that mean the server cannot be reached count: a deadlock or a cancelled
statement is a fault of the request and stays a 500. Neither the answer nor the log
line quotes the driver's message, which can carry a statement's parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import kombu.exceptions
import psycopg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError

from api.review_web import base_path, render

log = logging.getLogger(__name__)

# Seconds a client should wait before trying again: about what a restart or failover
# of either store takes, and the worker's first retry delay (worker.tasks).
RETRY_AFTER_S = 5
RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_S)}

DATABASE_DOWN = "the audit store (PostgreSQL) is unreachable"
BROKER_DOWN = "the broker (Redis) is unreachable"

# SQLSTATEs of a server that cannot serve at all: class 08 (connection exception),
# 57P01-57P03 (shut down by an operator or a crash, or still starting up), 53300 (too
# many connections). Client-side failures (refused, timed out, lost) carry none.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")

# redis.asyncio raises these same classes; kombu wraps them (and socket errors) in its
# OperationalError when publishing fails.
BROKER_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (SQLAlchemy's or psycopg's) means the server cannot be reached."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    if not isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def broker_unreachable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error that led to it, means Redis cannot be reached.

    The chain matters: Celery reports a broken result-store connection while sending a
    task as a bare RuntimeError raised from Redis's ConnectionError.
    """
    return any(isinstance(error, BROKER_ERRORS) for error in _chain(exc))


def _is_review_page(request: Request) -> bool:
    page = base_path(request)
    return request.url.path == page or request.url.path.startswith(page + "/")


def unavailable(request: Request, message: str, exc: BaseException) -> Response:
    """The 503 for ``request``: a JSON error, or a page for the reviewer page's routes."""
    log.warning(
        "%s %s: 503, %s (%s)", request.method, request.url.path, message, type(exc).__name__
    )
    if _is_review_page(request):
        heading = f"{message[:1].upper()}{message[1:]}: try again in a few seconds."
        response = render(request, "message.html", None, 503, heading=heading)
        response.headers.update(RETRY_AFTER)
        return response
    return JSONResponse({"detail": message}, 503, headers=RETRY_AFTER)


async def _database_error(request: Request, exc: Exception) -> Response:
    if not database_unreachable(exc):
        raise exc  # not an outage: the usual 500, with its traceback in the log
    return unavailable(request, DATABASE_DOWN, exc)


async def _broker_error(request: Request, exc: Exception) -> Response:
    return unavailable(request, BROKER_DOWN, exc)


def install_outage_handlers(app: FastAPI) -> None:
    """Answer 503 for every request that finds the audit store or the broker down."""
    for database_error in (DBAPIError, psycopg.OperationalError, psycopg.InterfaceError):
        app.add_exception_handler(database_error, _database_error)
    for broker_error in BROKER_ERRORS:
        app.add_exception_handler(broker_error, _broker_error)
