"""A user's mistake on the command line, told in one line: what went wrong and the fix.

``explain(exc, command)`` recognises the mistakes a user can fix (a bad ``GUARDQ_*``
value, a model directory or file that is missing, a database or broker that does not
answer or lacks guardq's tables, an input file that cannot be read, a bad argument) and returns
``(what, how_to_fix)``; anything else is a bug, and None leaves its traceback alone.
``guardq.cli`` prints ``guardq: error: <what>; <how to fix>`` and exits 2 (the
traceback too with ``--debug`` or ``GUARDQ_DEBUG=1``).
"""

from __future__ import annotations

import errno

from kombu.exceptions import OperationalError as BrokerError
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, ProgrammingError
from sqlalchemy.exc import OperationalError as DatabaseError

from guardq.submit import EnqueueError

CONFIGURATION_HINT = "the README's Configuration table lists every variable and its values"


def explain(exc: BaseException, command: str, settings=None) -> tuple[str, str] | None:
    """``(what, how_to_fix)`` for a mistake the user can fix; None for anything else.

    ``settings`` (when they loaded) let the message name the database or broker.
    """
    if isinstance(exc, ValidationError):
        return _bad_settings(exc)
    # The engine's errors that name their own fix (worker.errors): a missing model
    # directory or file, a device this machine does not have.
    if isinstance(getattr(exc, "what", None), str) and isinstance(getattr(exc, "fix", None), str):
        return exc.what, exc.fix
    if isinstance(exc, DatabaseError | InterfaceError):
        url = _url(settings, "database_url") or "the embedded store"
        return (
            f"cannot reach the database {url}: {_first_line(exc.orig or exc)}",
            "start PostgreSQL or correct GUARDQ_DATABASE_URL",
        )
    if isinstance(exc, ProgrammingError) and "does not exist" in str(exc.orig):
        url = _url(settings, "database_url") or "the embedded store"
        return (
            f"the database {url} lacks guardq's tables: {_first_line(exc.orig)}",
            "run `guardq db upgrade` on it first",
        )
    if isinstance(exc, ArgumentError) and "URL" in str(exc):
        return (
            f"GUARDQ_DATABASE_URL is not a database URL: {_first_line(exc)}",
            "set it like postgresql+psycopg://user:password@host:5432/guardq",
        )
    if isinstance(exc, BrokerError | RedisConnectionError | RedisTimeoutError | EnqueueError):
        url = _url(settings, "broker_url") or "(GUARDQ_BROKER_URL)"
        cause = exc.__cause__ if isinstance(exc, EnqueueError) and exc.__cause__ else exc
        return (
            f"cannot reach the broker {url}: {_first_line(cause)}",
            "start Redis or correct GUARDQ_BROKER_URL (unset, guardq label runs in-process)",
        )
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or _first_line(exc)
        fix = {
            errno.ENOENT: "check the path",
            errno.EACCES: "check the file's permissions, or run as a user who may read it",
            errno.EISDIR: "name a file, not a directory",
        }.get(exc.errno, "check the path and its permissions")
        return f"cannot open {exc.filename}: {reason}", fix
    if isinstance(exc, ValueError):
        return _first_line(exc), f"see `guardq {command} --help`"
    return None


def _bad_settings(exc: ValidationError) -> tuple[str, str]:
    problems = []
    names = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            name = f"GUARDQ_{str(error['loc'][0]).upper()}"
            names.append(name)
            problems.append(f"{name}: {message}")
        else:
            problems.append(message)
    fix = f"set {' and '.join(names)} to a valid value" if names else "correct those variables"
    return ", ".join(problems), f"{fix} ({CONFIGURATION_HINT})"


def _url(settings, field: str) -> str | None:
    value = getattr(settings, field, None) if settings is not None else None
    if not value:
        return None
    try:
        return make_url(value).render_as_string(hide_password=True)
    except ArgumentError:
        return "(GUARDQ_" + field.upper() + ")"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
