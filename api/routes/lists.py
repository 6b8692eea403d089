"""Term lists (admin keys): create, add and remove entries in bulk, read, delete.

Entries are checked where they enter: a phrase must be non-empty once normalised, a
regular expression must compile and must not match the empty string; each problem is
a 422 naming the entry (``entries[3].regex``). Changes reach the workers at their next
batch (``guardq.lists.cache``).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy.orm import Session, sessionmaker

from api.deps import AdminKey, SessionDep
from api.errors import FieldError, InputError
from api.list_schemas import (
    EntriesAdd,
    EntriesAdded,
    EntriesRemove,
    EntriesRemoved,
    EntryIn,
    EntryOut,
    ListCreate,
    ListDetail,
    ListOut,
    ListsOut,
)
from guardq.lists.entries import EntrySpec, check_entry
from guardq.store.db import session_scope
from guardq.store.enums import EntryKind, ListKind
from guardq.store.lists import (
    ListExists,
    ListNotFound,
    add_entries,
    check_name,
    create_list,
    delete_list,
    get_list,
    list_lists,
    missing_lists,
    remove_entries,
)

router = APIRouter(prefix="/v1/lists", tags=["lists"])


def entry_specs(entries: Sequence[EntryIn], field: str = "entries") -> list[EntrySpec]:
    """The entries checked; InputError listing every bad one by its place."""
    specs, errors = [], []
    for index, entry in enumerate(entries):
        given = [(k, v) for k, v in (("phrase", entry.phrase), ("regex", entry.regex)) if v]
        if len(given) != 1:
            errors.append(
                FieldError((field, index), 'give exactly one of "phrase" or "regex", non-empty')
            )
            continue
        kind, value = given[0]
        try:
            specs.append(check_entry(EntryKind(kind), value))
        except ValueError as exc:
            errors.append(FieldError((field, index, kind), str(exc), f"invalid_{kind}"))
    if errors:
        raise InputError(errors)
    return specs


def job_lists(factory: sessionmaker[Session], names: Sequence[str] | None) -> list[str] | None:
    """A job's ``lists`` checked against the store; InputError naming each unknown one."""
    if not names:
        return None
    errors: list[FieldError] = []
    for index, name in enumerate(names):
        try:
            check_name(name)
        except ValueError as exc:  # no list can have it (nor Postgres store a NUL)
            errors.append(FieldError(("lists", index), str(exc), "invalid_list_name"))
    if errors:
        raise InputError(errors)
    with session_scope(factory) as session:
        missing = set(missing_lists(session=session, names=names))
    errors = [
        FieldError(("lists", index), f"no term list named {name!r}", "unknown_list")
        for index, name in enumerate(names)
        if name in missing
    ]
    if errors:
        raise InputError(errors)
    return list(dict.fromkeys(names))


def _not_found(exc: ListNotFound) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


def _out(info) -> ListOut:
    return ListOut(**vars(info))


def _entry(entry) -> EntryOut:
    return EntryOut(**vars(entry))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ListDetail)
def create(body: ListCreate, session: SessionDep, key: AdminKey, response: Response) -> ListDetail:
    try:
        check_name(body.name)
    except ValueError as exc:
        raise InputError([FieldError(("name",), str(exc), "invalid_name")]) from None
    specs = entry_specs(body.entries)
    skip = body.skip_model if body.skip_model is not None else body.kind is ListKind.ALLOW
    try:
        create_list(
            session=session,
            name=body.name,
            kind=body.kind,
            scope=body.scope,
            skip_model=skip,
            entries=specs,
        )
    except ListExists as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    info, entries = get_list(session=session, name=body.name, with_entries=True)
    response.headers["Location"] = f"/v1/lists/{body.name}"
    return ListDetail(**vars(info), entries=[_entry(e) for e in entries])


@router.get("", response_model=ListsOut)
def read_all(session: SessionDep, key: AdminKey) -> ListsOut:
    return ListsOut(lists=[_out(info) for info in list_lists(session=session)])


@router.get("/{name}", response_model=ListDetail)
def read(name: str, session: SessionDep, key: AdminKey) -> ListDetail:
    try:
        info, entries = get_list(session=session, name=name, with_entries=True)
    except ListNotFound as exc:
        raise _not_found(exc) from None
    return ListDetail(**vars(info), entries=[_entry(e) for e in entries])


@router.post("/{name}/entries", response_model=EntriesAdded)
def add(name: str, body: EntriesAdd, session: SessionDep, key: AdminKey) -> EntriesAdded:
    specs = entry_specs(body.entries)
    try:
        stored = add_entries(session=session, name=name, entries=specs)
        info, _ = get_list(session=session, name=name)
    except ListNotFound as exc:
        raise _not_found(exc) from None
    return EntriesAdded(list=_out(info), entries=[_entry(e) for e in stored])


@router.post("/{name}/entries/remove", response_model=EntriesRemoved)
def remove(name: str, body: EntriesRemove, session: SessionDep, key: AdminKey) -> EntriesRemoved:
    specs = entry_specs(body.entries)
    try:
        removed = remove_entries(session=session, name=name, ids=body.ids, entries=specs)
        info, _ = get_list(session=session, name=name)
    except ListNotFound as exc:
        raise _not_found(exc) from None
    return EntriesRemoved(list=_out(info), removed=removed)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete(name: str, session: SessionDep, key: AdminKey) -> Response:
    try:
        delete_list(session=session, name=name)
    except ListNotFound as exc:
        raise _not_found(exc) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
