"""Term lists in the store: create, add and remove entries in bulk, read, delete.

Every change also replaces the token in ``term_list_state`` in the same transaction;
workers read that token once per batch (``guardq.lists.cache``) and recompile their
matchers when it moved, so a change reaches every worker at its next batch, no restart.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from guardq.lists.entries import EntrySpec
from guardq.lists.matcher import ListEntry, ListSpec
from guardq.store.dialects import insert_returning
from guardq.store.enums import EntryKind, ListKind, ListScope
from guardq.store.models import LIST_NAME_LENGTH, TermList, TermListEntry, TermListState, utcnow

NAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{LIST_NAME_LENGTH - 1}}}")
# Entries one request may add or remove: a 10,000-term list goes in a few requests.
MAX_ENTRIES_PER_CALL = 10_000
_STATE_ID = 1


class ListNotFound(LookupError, ValueError):
    """No list has this name (a ValueError too, so the CLI reports it plainly)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no term list named {name!r}")
        self.name = name


class ListExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a term list named {name!r} exists already")
        self.name = name


@dataclass(frozen=True)
class StoredEntry:
    id: int
    kind: EntryKind
    pattern: str
    created_at: datetime


@dataclass(frozen=True)
class ListInfo:
    id: uuid.UUID
    name: str
    kind: ListKind
    scope: ListScope
    skip_model: bool
    entry_count: int
    created_at: datetime
    updated_at: datetime


def check_name(name: str) -> str:
    """``name`` if it is a valid list name, else ValueError naming the rule."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"a list name is 1 to {LIST_NAME_LENGTH} letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def _bump(session: Session) -> None:
    """Replace the lists' version token (an upsert: the row may not exist yet)."""
    token, now = uuid.uuid4(), utcnow()
    moved = session.execute(
        update(TermListState)
        .where(TermListState.id == _STATE_ID)
        .values(version=token, changed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        insert_returning(
            session,
            TermListState,
            [{"id": _STATE_ID, "version": token, "changed_at": now}],
            conflict="id",
            returning=TermListState.id,
        )
        # A racing writer inserted first: ours is then an update after all.
        session.execute(
            update(TermListState)
            .where(TermListState.id == _STATE_ID)
            .values(version=token, changed_at=now)
            .execution_options(synchronize_session=False)
        )


def lists_version(*, session: Session) -> uuid.UUID | None:
    """The current token (None before any change): one indexed read, once per batch."""
    return session.scalar(select(TermListState.version).where(TermListState.id == _STATE_ID))


def _row(session: Session, name: str) -> TermList:
    row = session.scalar(select(TermList).where(TermList.name == name))
    if row is None:
        raise ListNotFound(name)
    return row


def _info(row: TermList, count: int) -> ListInfo:
    return ListInfo(
        id=row.id,
        name=row.name,
        kind=row.kind,
        scope=row.scope,
        skip_model=row.skip_model,
        entry_count=count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create_list(
    *,
    session: Session,
    name: str,
    kind: ListKind,
    scope: ListScope,
    skip_model: bool,
    entries: Sequence[EntrySpec] = (),
) -> ListInfo:
    """A new list with ``entries``; ListExists when the name is taken."""
    check_name(name)
    if session.scalar(select(TermList.id).where(TermList.name == name)) is not None:
        raise ListExists(name)
    inserted = insert_returning(
        session,
        TermList,
        [
            {
                "id": uuid.uuid4(),
                "name": name,
                "kind": kind,
                "scope": scope,
                "skip_model": skip_model,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        ],
        conflict="name",
        returning=TermList.id,
    )
    if not inserted:
        raise ListExists(name)
    add_entries(session=session, name=name, entries=entries)
    return get_list(session=session, name=name)[0]


def add_entries(*, session: Session, name: str, entries: Sequence[EntrySpec]) -> list[StoredEntry]:
    """Add ``entries`` (already checked) to the list; those present stay as they are.
    The stored entries for all of ``entries``, in their order."""
    row = _row(session, name)
    unique = list(dict.fromkeys((e.kind, e.pattern) for e in entries))
    if unique:
        now = utcnow()
        insert_returning(
            session,
            TermListEntry,
            [
                {"list_id": row.id, "kind": kind, "pattern": pattern, "created_at": now}
                for kind, pattern in unique
            ],
            conflict=("list_id", "kind", "pattern"),
            returning=TermListEntry.id,
        )
        row.updated_at = now
        _bump(session)
    found = {}
    for start in range(0, len(unique), 500):
        part = unique[start : start + 500]
        for entry in session.scalars(
            select(TermListEntry).where(
                TermListEntry.list_id == row.id,
                tuple_(TermListEntry.kind, TermListEntry.pattern).in_(part),
            )
        ):
            found[(entry.kind, entry.pattern)] = StoredEntry(
                entry.id, entry.kind, entry.pattern, entry.created_at
            )
    return [found[key] for key in unique if key in found]


def remove_entries(
    *,
    session: Session,
    name: str,
    ids: Sequence[int] = (),
    entries: Sequence[EntrySpec] = (),
) -> int:
    """Remove entries by id or by pattern; how many went."""
    row = _row(session, name)
    removed = 0
    if ids:
        removed += session.execute(
            delete(TermListEntry).where(
                TermListEntry.list_id == row.id, TermListEntry.id.in_(list(ids))
            )
        ).rowcount
    pairs = list(dict.fromkeys((e.kind, e.pattern) for e in entries))
    for start in range(0, len(pairs), 500):
        removed += session.execute(
            delete(TermListEntry).where(
                TermListEntry.list_id == row.id,
                tuple_(TermListEntry.kind, TermListEntry.pattern).in_(pairs[start : start + 500]),
            )
        ).rowcount
    if removed:
        row.updated_at = utcnow()
        _bump(session)
    return removed


def get_list(
    *, session: Session, name: str, with_entries: bool = False
) -> tuple[ListInfo, list[StoredEntry]]:
    """The list's description and (``with_entries``) its entries in id order."""
    row = _row(session, name)
    count = session.scalar(
        select(func.count()).select_from(TermListEntry).where(TermListEntry.list_id == row.id)
    )
    entries = []
    if with_entries:
        entries = [
            StoredEntry(e.id, e.kind, e.pattern, e.created_at)
            for e in session.scalars(
                select(TermListEntry)
                .where(TermListEntry.list_id == row.id)
                .order_by(TermListEntry.id)
            )
        ]
    return _info(row, count), entries


def list_lists(*, session: Session) -> list[ListInfo]:
    counts = dict(
        session.execute(
            select(TermListEntry.list_id, func.count()).group_by(TermListEntry.list_id)
        ).all()
    )
    rows = session.scalars(select(TermList).order_by(TermList.name))
    return [_info(row, counts.get(row.id, 0)) for row in rows]


def delete_list(*, session: Session, name: str) -> None:
    """Delete the list and its entries; ListNotFound when there is none."""
    row = _row(session, name)
    session.execute(delete(TermListEntry).where(TermListEntry.list_id == row.id))
    session.delete(row)
    _bump(session)


def missing_lists(*, session: Session, names: Sequence[str]) -> list[str]:
    """The names among ``names`` that no list has (for a job's ``lists``)."""
    if not names:
        return []
    known = set(session.scalars(select(TermList.name).where(TermList.name.in_(list(names)))))
    return [name for name in names if name not in known]


def load_lists(*, session: Session) -> list[ListSpec]:
    """Every list with its entries, as the matchers compile them."""
    entries: dict[uuid.UUID, list[ListEntry]] = {}
    for list_id, entry_id, kind, pattern in session.execute(
        select(
            TermListEntry.list_id, TermListEntry.id, TermListEntry.kind, TermListEntry.pattern
        ).order_by(TermListEntry.id)
    ):
        entries.setdefault(list_id, []).append(ListEntry(entry_id, kind, pattern))
    return [
        ListSpec(row.name, row.kind, row.scope, row.skip_model, tuple(entries.get(row.id, ())))
        for row in session.scalars(select(TermList).order_by(TermList.name))
    ]
