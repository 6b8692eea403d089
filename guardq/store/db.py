"""The engine and session factory of the audit store, built from one database URL.

Usage: build the factory once per process, then open one transaction per unit of work::

    factory = session_factory(create_db_engine(url))
    with session_scope(factory) as session:   # commits on success, rolls back on error
        record_verdict(session=session, ...)

``session_scope`` is ``sessionmaker.begin()``; the query functions never commit.

An engine must be created in the process that uses it: a Celery prefork worker builds
its own after the fork (lazily, or in ``worker_process_init``), never inheriting the
parent's pooled connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from guardq.settings import get_settings

# With no GUARDQ_DATABASE_URL, guardq runs embedded on this SQLite file in the
# working directory (git-ignored, with the -wal and -shm files SQLite keeps beside it
# while it is open).
DEFAULT_SQLITE_FILE = "guardq.sqlite3"

# Seconds a SQLite writer waits for the file lock, instead of failing at once, when the
# embedded API and pipeline write from several threads.
_SQLITE_BUSY_TIMEOUT_S = 30

# Seconds a new PostgreSQL connection may take to open. libpq waits for the OS otherwise
# (minutes, for a host that drops packets): with it, a request that finds the server
# unreachable gets its 503, and /healthz its answer, within seconds. A connect_timeout
# in the URL wins.
POSTGRES_CONNECT_TIMEOUT_S = 3


def normalize_url(url: str) -> str:
    """``url`` with Postgres pointed at psycopg 3, the one driver guardq ships.

    ``postgres://`` and ``postgresql://`` (what hosting providers and docker images hand
    out) would otherwise select psycopg2, which is not installed.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# Per process (API process or worker): the API's thread pool runs up to ~40 requests'
# store work at once; 20 + 20 stays well inside Postgres's default 100 connections for
# a few processes.
POOL_SIZE = 20
POOL_OVERFLOW = 20


def resolve_url(url: str | None = None) -> str:
    """The store's URL: ``url``, else ``GUARDQ_DATABASE_URL``, else the embedded SQLite file."""
    url = url or get_settings().database_url
    if url is None:
        return f"sqlite:///{Path(DEFAULT_SQLITE_FILE).resolve()}"
    return normalize_url(url)


def create_db_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for ``url`` (see :func:`resolve_url`); ``kwargs`` go to ``create_engine``."""
    url = resolve_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
            **kwargs.get("connect_args", {}),
        }
    if parsed.get_backend_name() == "postgresql" and "poolclass" not in kwargs:
        # Connections kept open: a request or batch that finds none idle connects anew
        # (a server process forked, authentication), and a connection beyond
        # pool_size is closed again when returned. SQLAlchemy's default of 5 made every
        # request past the fifth concurrent one pay that: 16 concurrent realtime
        # requests spent more CPU connecting than judging.
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    # No pool_pre_ping: it costs a round trip at every checkout, several per request.
    # A connection that died with the server fails its next statement instead; that
    # invalidates the whole pool, the request answers 503 (the API) or the batch is
    # retried (the worker), and the next checkout connects afresh.
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_S * 1000}")
    # WAL lets readers (progress polls) proceed while the pipeline writes verdicts.
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; attributes stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commits when the block succeeds, rolls back when it raises."""
    with factory.begin() as session:
        yield session


@lru_cache(maxsize=1)
def get_session_factory() -> sessionmaker[Session]:
    """The session factory of this process, on the configured database, built once."""
    return session_factory(create_db_engine())
