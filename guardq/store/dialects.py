"""The statements the store needs that SQL spells differently per backend."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

# Rows per multi-row statement on SQLite (and per IN list): a wide row has ~20
# columns, so this stays far below SQLite's 32,766 bound parameters.
ROWS_PER_STATEMENT = 500


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
    """Many rows as ``INSERT ... ON CONFLICT DO NOTHING RETURNING``; the ``returning``
    values of the rows that went in.

    Every row must have the same keys. The rows are written in the order given: callers
    that may race on the same keys pass them sorted, so that two writers wait on each
    other's rows in one order and cannot deadlock. On Postgres it is one statement
    whatever the number of rows (``_recordset_insert``); on SQLite, multi-row statements of
    ``ROWS_PER_STATEMENT`` rows.
    """
    if not rows:
        return set()
    columns = (conflict,) if isinstance(conflict, str) else tuple(conflict)
    table = inspect(model).local_table
    if session.get_bind().dialect.name == "postgresql":
        return set(session.scalars(*_recordset(session, table, rows, columns, returning.key)))
    statement = (
        _insert(session)(table)
        .on_conflict_do_nothing(index_elements=list(columns))
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
    """Many rows as ``INSERT ... ON CONFLICT DO NOTHING``, not saying which went in: on
    Postgres one statement (``_recordset_insert``), on SQLite one executemany. The rows go
    in the order given (sorted by the caller, against deadlocks)."""
    if not rows:
        return
    table = inspect(model).local_table
    if session.get_bind().dialect.name == "postgresql":
        session.execute(*_recordset(session, table, rows, tuple(conflict), None))
        return
    # On the Core table: the ORM's bulk-insert layer cost a tenth of the write.
    statement = _insert(session)(table).on_conflict_do_nothing(index_elements=list(conflict))
    session.execute(statement, list(rows))


def insert_many(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    """Many new rows as a plain ``INSERT`` (a duplicate key raises): on Postgres one
    statement (``_recordset_insert``), on SQLite one executemany."""
    if not rows:
        return
    table = inspect(model).local_table
    if session.get_bind().dialect.name == "postgresql":
        session.execute(*_recordset(session, table, rows, (), None))
        return
    session.execute(table.insert(), list(rows))


def _recordset(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: tuple[str, ...],
    returning: str | None,
):
    """The statement and parameters that insert ``rows`` with ``_recordset_insert``;
    the columns a row leaves out get their Python-side defaults (an id, a timestamp),
    as SQLAlchemy's own INSERT would give them: an INSERT ... SELECT only gets the
    database's."""
    given = tuple(rows[0])
    defaults = _python_defaults(table, given)
    if defaults:
        rows = [{**row, **{name: make(None) for name, make in defaults}} for row in rows]
    names = given + tuple(name for name, _ in defaults)
    try:
        document = json.dumps(rows, default=_json_value, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or infinite float, which JSON cannot hold: as float8 text
        rows = [{k: _finite_or_text(v) for k, v in row.items()} for row in rows]
        document = json.dumps(rows, default=_json_value, separators=(",", ":"))
    return _recordset_insert(table, names, conflict, returning), {"rows": document}


@cache
def _python_defaults(table: Table, given: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """The columns not in ``given`` that have a Python-side default, each with a
    function of one (unused) argument that makes a value, as SQLAlchemy wraps them."""
    found = []
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if default.is_callable:
            found.append((column.name, default.arg))
        elif default.is_scalar:
            found.append((column.name, lambda _context, value=default.arg: value))
    return tuple(found)


def _finite_or_text(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _json_value(value: Any) -> str:
    """A row value JSON has no type for, as Postgres reads it back (enums are strs)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC timestamps")
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} in a batch insert")


@cache
def _recordset_insert(
    table: Table, names: tuple[str, ...], conflict: tuple[str, ...], returning: str | None
):
    """``INSERT INTO table (names) SELECT names FROM json_populate_recordset(NULL::table,
    :rows) [ON CONFLICT (conflict) DO NOTHING] [RETURNING returning]``: the batch goes
    as one JSON document (``json.dumps``, in C), which Postgres reads into rows of the
    table's own type, so that a batch of any size is one short statement, parsed once.
    The alternatives cost the writer more CPU than the rows themselves: an executemany
    in pipeline mode pays psycopg's per-statement bookkeeping for every row, a multi-row
    VALUES list of 500 rows x 20 columns is a 10,000-placeholder query parsed anew
    every time, and one array parameter per column (``unnest``) had psycopg quote every
    element in Python. The rows go in in the order given (the recordset yields them in
    document order). Each value goes through its column type's input function, so a
    string too long for a ``varchar(n)`` column is refused, not cut (the item then
    fails alone, ``guardq.recording``). Built once per table and columns.
    """
    quote = postgresql.dialect().identifier_preparer.quote
    name = quote(table.name)
    columns = ", ".join(quote(column) for column in names)
    sql = (
        f"INSERT INTO {name} ({columns}) SELECT {columns} "
        f"FROM json_populate_recordset(NULL::{name}, CAST(:rows AS json))"
    )
    if conflict:
        sql += f" ON CONFLICT ({', '.join(quote(column) for column in conflict)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(returning)}"
    return text(sql)
