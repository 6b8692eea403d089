"""The statements the store needs that SQL spells differently per backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

# Rows per multi-row statement: a wide row has ~20 columns, so this stays far below
# Postgres' 65,535 bound parameters and SQLite's 32,766.
ROWS_PER_STATEMENT = 500
# From this many rows, ``insert_ignoring_many`` beats one multi-row statement on
# Postgres; below it (a realtime batch), the extra round trips of a pipeline cost more.
MANY_ROWS = 32


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    try:
        return _INSERTS[dialect]
    except KeyError:
        raise NotImplementedError(
            f"guardq's store supports postgresql and sqlite, not {dialect}"
        ) from None


def insert_ignoring_duplicates(
    session: Session, model: type, values: dict[str, Any], *conflict_columns: str
) -> bool:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING``; whether the row went in.

    The unique index decides, inside the database, which of two racing writers wins; a
    read-then-write check in Python could not. RETURNING (not rowcount, which ORM-enabled
    inserts do not report) tells the winner.
    """
    statement = (
        _insert(session)(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(*inspect(model).primary_key)
    )
    return session.execute(statement).first() is not None


def insert_returning(
    session: Session,
    model: type,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: str | Sequence[str],
    returning,
) -> set:
    """Many rows in multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` statements
    (``ROWS_PER_STATEMENT`` rows each); the ``returning`` values of the rows that went in.

    Every row must have the same keys. The rows are written in the order given: callers
    that may race on the same keys pass them sorted, so that two writers wait on each
    other's rows in one order and cannot deadlock.
    """
    if not rows:
        return set()
    columns = [conflict] if isinstance(conflict, str) else list(conflict)
    table = inspect(model).local_table
    statement = (
        _insert(session)(table)
        .on_conflict_do_nothing(index_elements=columns)
        .returning(table.c[returning.key])
    )
    # An executemany with RETURNING: SQLAlchemy's "insertmanyvalues" sends it as
    # multi-row INSERTs of up to ``insertmanyvalues_page_size`` rows, from one compiled
    # statement (a VALUES list built per call would be compiled anew every time).
    result = session.execute(
        statement.execution_options(insertmanyvalues_page_size=ROWS_PER_STATEMENT), list(rows)
    )
    return set(result.scalars())


def insert_ignoring_many(
    session: Session, model: type, rows: Sequence[dict[str, Any]], *, conflict: Sequence[str]
) -> None:
    """Many rows as ``INSERT ... ON CONFLICT DO NOTHING``, not saying which went in.

    From ``MANY_ROWS`` rows, one executemany: one short statement that the
    driver parses once and sends for every row in a single round trip (psycopg's
    pipeline mode), where a multi-row statement of 500 rows x 20 columns is a 10,000-
    placeholder query that psycopg re-parses on every execution (it was a quarter of
    a busy worker's time on a fast model). Callers that need to know which rows went
    in find out otherwise (``record_outcomes`` holds the jobs' locks and reads first).
    The rows go in the order given (sorted by the caller, against deadlocks). Fewer rows
    (a realtime batch) go in as ``insert_returning``'s multi-row statement: one round
    trip, where the pipeline costs several.
    """
    if len(rows) < MANY_ROWS:
        insert_returning(
            session, model, rows, conflict=conflict, returning=model.__table__.c[conflict[0]]
        )
        return
    # On the Core table: the ORM's bulk-insert layer cost a tenth of the write.
    table = inspect(model).local_table
    statement = _insert(session)(table).on_conflict_do_nothing(index_elements=list(conflict))
    session.execute(statement, list(rows))
