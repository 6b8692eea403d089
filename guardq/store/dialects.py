"""The one statement the store needs that SQL spells differently per backend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_ignoring_duplicates(
    session: Session, model: type, values: dict[str, Any], *conflict_columns: str
) -> bool:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING``; whether the row went in.

    The unique index decides, inside the database, which of two racing writers wins; a
    read-then-write check in Python could not. RETURNING (not rowcount, which ORM-enabled
    inserts do not report) tells the winner.
    """
    dialect = session.get_bind().dialect.name
    try:
        insert = _INSERTS[dialect]
    except KeyError:
        raise NotImplementedError(
            f"guardq's store supports postgresql and sqlite, not {dialect}"
        ) from None
    statement = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(*inspect(model).primary_key)
    )
    return session.execute(statement).first() is not None
