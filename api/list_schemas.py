"""Request and response bodies of the term-list and author endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from guardq.store.enums import EntryKind, ListKind, ListScope
from guardq.store.lists import MAX_ENTRIES_PER_CALL
from guardq.store.models import LIST_NAME_LENGTH


class EntryIn(BaseModel):
    """One entry: ``{"phrase": "..."}`` or ``{"regex": "..."}``."""

    model_config = ConfigDict(extra="forbid")

    phrase: StrictStr | None = None
    regex: StrictStr | None = None


Entries = Annotated[list[EntryIn], Field(max_length=MAX_ENTRIES_PER_CALL)]


class ListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, Field(min_length=1, max_length=LIST_NAME_LENGTH)]
    kind: ListKind
    # "deployment": every job; "job": the jobs that name it in their ``lists``.
    scope: ListScope = ListScope.DEPLOYMENT
    # A hit decides without the model. Default: false for block lists (the model still
    # judges, so the audit shows both), true for allow lists (known-safe boilerplate).
    skip_model: StrictBool | None = None
    entries: Entries = []


class EntriesAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: Annotated[Entries, Field(min_length=1)]


class EntriesRemove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[StrictInt], Field(max_length=MAX_ENTRIES_PER_CALL)] = []
    entries: Entries = []


class EntryOut(BaseModel):
    id: int
    kind: EntryKind
    pattern: str
    created_at: datetime


class ListOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: ListKind
    scope: ListScope
    skip_model: bool
    entry_count: int
    created_at: datetime
    updated_at: datetime


class ListDetail(ListOut):
    entries: list[EntryOut]


class ListsOut(BaseModel):
    lists: list[ListOut]


class EntriesAdded(BaseModel):
    list: ListOut
    # The stored entries for those sent, in their order (one already present keeps its id).
    entries: list[EntryOut]


class EntriesRemoved(BaseModel):
    list: ListOut
    removed: int


class AuthorEventOut(BaseModel):
    action: str
    actor_key_id: uuid.UUID | None
    before: dict | None
    after: dict | None
    at: datetime


class AuthorOut(BaseModel):
    """An author's standing. ``author_hash``: the HMAC the store keeps (never the id)."""

    author_hash: str
    strikes: int
    threshold: int
    window: timedelta
    on_hold: bool
    held_since: datetime | None
    hold_until: datetime | None
    lifted_at: datetime | None
    on_hold_action: str
    events: list[AuthorEventOut]
