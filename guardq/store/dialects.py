"""The statements the store needs that SQL spells differently per backend."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import JSON, Enum, String, Table, Text, bindparam, cast, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
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
    whatever the number of rows (``_unnest_insert``); on SQLite, multi-row statements of
    ``ROWS_PER_STATEMENT`` rows.
    """
    if not rows:
        return set()
    columns = (conflict,) if isinstance(conflict, str) else tuple(conflict)
    table = inspect(model).local_table
    if session.get_bind().dialect.name == "postgresql":
        return set(session.scalars(*_unnest(session, table, rows, columns, returning.key)))
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
    Postgres one statement (``_unnest_insert``), on SQLite one executemany. The rows go
    in the order given (sorted by the caller, against deadlocks)."""
    if not rows:
        return
    table = inspect(model).local_table
    if session.get_bind().dialect.name == "postgresql":
        session.execute(*_unnest(session, table, rows, tuple(conflict), None))
        return
    # On the Core table: the ORM's bulk-insert layer cost a tenth of the write.
    statement = _insert(session)(table).on_conflict_do_nothing(index_elements=list(conflict))
    session.execute(statement, list(rows))


def insert_many(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    """Many new rows as a plain ``INSERT`` (a duplicate key raises): on Postgres one
    statement (``_unnest_insert``), on SQLite one executemany."""
    if not rows:
        return
    table = inspect(model).local_table
    if session.get_bind().dialect.name == "postgresql":
        session.execute(*_unnest(session, table, rows, (), None))
        return
    session.execute(table.insert(), list(rows))


def _unnest(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: tuple[str, ...],
    returning: str | None,
):
    """The statement and parameters that insert ``rows`` with ``_unnest_insert``; the
    columns a row leaves out get their Python-side defaults (an id, a timestamp), as
    SQLAlchemy's own INSERT would give them: an INSERT ... SELECT only gets the
    database's."""
    given = tuple(rows[0])
    defaults = _python_defaults(table, given)
    if defaults:
        rows = [{**row, **{name: make(None) for name, make in defaults}} for row in rows]
    names = given + tuple(name for name, _ in defaults)
    return _unnest_insert(table, names, conflict, returning), _arrays(session, table, rows)


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


@cache
def _unnest_insert(
    table: Table, names: tuple[str, ...], conflict: tuple[str, ...], returning: str | None
):
    """``INSERT INTO table (names) SELECT * FROM unnest(:a, :b, ...) [ON CONFLICT
    (conflict) DO NOTHING] [RETURNING returning]``: each column's values go as one array
    parameter, so that a batch of any size is one short statement, parsed and planned
    once, its values sent in psycopg's binary array format. The alternatives cost more
    CPU in the writer than the rows themselves: an executemany in pipeline mode pays
    psycopg's per-statement bookkeeping for every row, and a multi-row VALUES list of
    500 rows x 20 columns is a 10,000-placeholder query parsed anew every time.
    ``unnest`` yields the arrays' elements in order, so the rows go in in the order
    given. Built once per table and columns (SQLAlchemy then compiles it once).

    String columns travel as ``text[]``: an explicit cast to ``varchar(n)[]`` would
    silently cut a value too long for the column, where the insert's own assignment
    raises (the item then fails alone, ``guardq.recording``). JSON ones travel as
    serialised text (``_arrays``) cast back to the column's type: SQLAlchemy would take
    a JSON list for one more array dimension.
    """
    columns = [table.c[name] for name in names]
    source = (
        func.unnest(*(bindparam(c.name, type_=ARRAY(_array_item(c.type))) for c in columns))
        .table_valued(*names)
        .render_derived()
    )
    picked = [
        cast(source.c[c.name], c.type) if isinstance(c.type, JSON) else source.c[c.name]
        for c in columns
    ]
    statement = postgresql.insert(table).from_select(list(names), select(*picked))
    if conflict:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(table.c[returning]) if returning else statement


def _array_item(column_type):
    # An Enum is a String too, but keeps its own type: its processor stores the value.
    if isinstance(column_type, JSON) or (
        isinstance(column_type, String) and not isinstance(column_type, Enum)
    ):
        return Text()
    return column_type


def _arrays(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> dict[str, list]:
    """``rows`` as one list per column, for ``_unnest_insert``; JSON values serialised
    as SQLAlchemy would (None as SQL NULL only for a ``none_as_null`` column)."""
    dumps = session.get_bind().dialect._json_serializer or json.dumps
    arrays = {}
    for name in rows[0]:
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        if isinstance(column_type, JSON):
            keep_none = column_type.none_as_null
            values = [None if v is None and keep_none else dumps(v) for v in values]
        arrays[name] = values
    return arrays
