"""The audit store's tables, as SQLAlchemy 2.0 declarative models.

The same models serve Postgres (production) and SQLite (the embedded default), so only
portable types appear: ``Uuid``, ``JSON``, timezone-aware timestamps, and enums stored
as short strings guarded by CHECK constraints. Content is kept as its SHA-256 hash; the
only raw text in the schema is ``escalations.retained_text`` (and ``retained_prompt``),
which a reviewer must read and which is purged after the decision (DESIGN.md, Privacy).

Changing anything here needs a new Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from guardq.policy import Action
from guardq.store.enums import (
    BatchStatus,
    EntryKind,
    EscalationStatus,
    FilePurpose,
    ItemStatus,
    JobStatus,
    KeyRole,
    ListKind,
    ListScope,
    Priority,
)
from guardq.verdict import Mode, Severity

# Deterministic constraint names, so that Alembic revisions can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SHA256_HEX = 64
MODEL_ID_LENGTH = 200
REF_LENGTH = 256
# The largest value of an Integer column (a 4-byte integer in Postgres).
INTEGER_MAX = 2**31 - 1
LIST_NAME_LENGTH = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp on every backend.

    SQLite keeps no offset and hands back naive values; storing UTC only and tagging it
    on the way out keeps comparisons (leases, purge deadlines) right on both backends.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC timestamps")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # The values ("Safe", "queued") are stored, not the member names, so that rows read
    # the same as the API and the model output.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(Base):
    """An API key; only the SHA-256 of the secret is kept, with a short display prefix."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[KeyRole] = mapped_column(_enum(KeyRole, "role"))
    key_hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Requests and items per minute (api.ratelimit); NULL: unlimited.
    rpm: Mapped[int | None] = mapped_column(Integer)
    ipm: Mapped[int | None] = mapped_column(Integer)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("done >= 0 AND failed >= 0 AND done + failed <= total", name="counts"),
        Index("ix_jobs_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    mode: Mapped[Mode] = mapped_column(_enum(Mode, "mode"))
    priority: Mapped[Priority] = mapped_column(_enum(Priority, "priority"))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "status"), default=JobStatus.QUEUED)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    # Signed events for the job's blocked items (guardq.alerts); NULL: the deployment's.
    alert_url: Mapped[str | None] = mapped_column(String(2048))
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    # The producer's choice: False keeps no text even for an escalated item (reviewers
    # then see its ref and hash only).
    retain_text: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Names of the job-scoped term lists this job asked for (guardq.lists); NULL: none.
    lists: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Item(Base):
    """One submitted text of a job, known by its hash; ``error`` never quotes content."""

    __tablename__ = "items"
    # The unique (job_id, index) pair is also the index that pages a job's items.
    __table_args__ = (UniqueConstraint("job_id", "index"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str | None] = mapped_column(String(REF_LENGTH))
    content_sha256: Mapped[str] = mapped_column(String(SHA256_HEX), index=True)
    # "metadata" is reserved on declarative classes, hence the attribute name.
    meta: Mapped[Any | None] = mapped_column("metadata", JSON(none_as_null=True))
    # HMAC-SHA256 of the producer's author id under GUARDQ_AUTHOR_SECRET (guardq.authors),
    # and under GUARDQ_AUTHOR_SECRET_PREVIOUS while a rotation runs; never the id itself.
    author_hash: Mapped[str | None] = mapped_column(String(SHA256_HEX), index=True)
    author_hash_previous: Mapped[str | None] = mapped_column(String(SHA256_HEX), index=True)
    status: Mapped[ItemStatus] = mapped_column(
        _enum(ItemStatus, "status"), default=ItemStatus.QUEUED
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class VerdictRecord(Base):
    """The verdict on one item. UNIQUE(item_id): a redelivered task cannot add a second."""

    __tablename__ = "verdicts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), unique=True
    )
    content_sha256: Mapped[str] = mapped_column(String(SHA256_HEX), index=True)
    # NULL: the model output did not parse (the policy then escalates, fail closed).
    severity: Mapped[Severity | None] = mapped_column(_enum(Severity, "severity"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    refusal: Mapped[bool | None] = mapped_column(Boolean)
    prob_safe: Mapped[float | None] = mapped_column(Float)
    prob_controversial: Mapped[float | None] = mapped_column(Float)
    prob_unsafe: Mapped[float | None] = mapped_column(Float)
    action: Mapped[Action] = mapped_column(_enum(Action, "action"))
    reason: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    model_revision: Mapped[str | None] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer)
    span_start: Mapped[int | None] = mapped_column(Integer)
    span_end: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    served_from_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    # The term-list hits that decided (guardq.lists): list, entry id and original span;
    # never the matched text. NULL: no list matched.
    list_hits: Mapped[list[dict] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Escalation(Base):
    """An item a human must review; the one place raw text is kept, until ``purge_after``."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_created_at", "status", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), unique=True
    )
    verdict_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verdicts.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[EscalationStatus] = mapped_column(
        _enum(EscalationStatus, "status"), default=EscalationStatus.OPEN
    )
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision: Mapped[Severity | None] = mapped_column(_enum(Severity, "decision"))
    decision_categories: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    # Response mode only: does the response refuse? NULL when the reviewer did not say.
    decision_refusal: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the reviewer reads: the judged content, and in response mode its prompt too.
    retained_text: Mapped[str | None] = mapped_column(Text)
    retained_prompt: Mapped[str | None] = mapped_column(Text)
    # When the purge cleared the text: tells "purged" from "never kept" (retain_text off).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set at the decision (decided_at + GUARDQ_REVIEW_RETENTION); the purge clears the text.
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Consensus: how many independent decisions must agree (the policy's ``review``),
    # how many were made so far, and whether they disagreed (a lead then settles it).
    decisions_required: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    decisions_made: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disputed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # At resolution: how many of the decisions gave the settled label.
    agreed_count: Mapped[int | None] = mapped_column(Integer)
    # When a reviewer should have decided it by (the policy's deadline for its reason).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class ReviewDecision(Base):
    """One reviewer's decision on an escalation; every one is kept, agreeing or not.

    UNIQUE(escalation_id, reviewer_key_id): a reviewer decides an item once.
    """

    __tablename__ = "review_decisions"
    __table_args__ = (UniqueConstraint("escalation_id", "reviewer_key_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    escalation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("escalations.id"), index=True)
    reviewer_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id"))
    decision: Mapped[Severity] = mapped_column(_enum(Severity, "decision"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    refusal: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    # A lead's decision on a disputed item: it settles the item.
    settles: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewEvent(Base):
    """The append-only audit trail of escalations. ``before``/``after`` never hold text.

    No ON DELETE CASCADE: an audited escalation (and so its item and job) cannot be
    deleted out from under its trail.
    """

    __tablename__ = "review_events"
    __table_args__ = (Index("ix_review_events_escalation_id_at", "escalation_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    escalation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("escalations.id"))
    # NULL: guardq itself (the policy escalated); otherwise the reviewer's API key.
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VerdictCacheEntry(Base):
    """A parsed verdict per (content, model, mode): content judged once is not inferred again."""

    __tablename__ = "verdict_cache"

    content_sha256: Mapped[str] = mapped_column(String(SHA256_HEX), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH), primary_key=True)
    mode: Mapped[Mode] = mapped_column(_enum(Mode, "mode"), primary_key=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    refusal: Mapped[bool | None] = mapped_column(Boolean)
    prob_safe: Mapped[float | None] = mapped_column(Float)
    prob_controversial: Mapped[float | None] = mapped_column(Float)
    prob_unsafe: Mapped[float | None] = mapped_column(Float)
    chunk_count: Mapped[int] = mapped_column(Integer)
    span_start: Mapped[int | None] = mapped_column(Integer)
    span_end: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TermList(Base):
    """A named block or allow list (guardq.lists). ``scope``: "deployment" lists apply to
    every job, "job" lists to the jobs that name them."""

    __tablename__ = "term_lists"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(LIST_NAME_LENGTH), unique=True)
    kind: Mapped[ListKind] = mapped_column(_enum(ListKind, "kind"))
    scope: Mapped[ListScope] = mapped_column(_enum(ListScope, "scope"))
    # True: a hit decides without the model (a block list blocks, an allow list allows).
    skip_model: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TermListEntry(Base):
    """One phrase or regular expression of a list; its short integer id names it in
    reasons (the matched text never appears there)."""

    __tablename__ = "term_list_entries"
    # AUTOINCREMENT on SQLite too: an id named in a stored reason is never reused.
    __table_args__ = (
        UniqueConstraint("list_id", "kind", "pattern"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("term_lists.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, "kind"))
    pattern: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TermListState(Base):
    """One row: a token that every change to any list replaces. Workers compare it once
    per batch and recompile their matchers when it moved, so changes need no restart."""

    __tablename__ = "term_list_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[uuid.UUID] = mapped_column(Uuid)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuthorEvent(Base):
    """The trail of author holds (an admin lifting one); keyed by the author's HMAC."""

    __tablename__ = "author_events"
    __table_args__ = (Index("ix_author_events_author_hash_at", "author_hash", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    author_hash: Mapped[str] = mapped_column(String(SHA256_HEX))
    author_hash_previous: Mapped[str | None] = mapped_column(String(SHA256_HEX))
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StoredFile(Base):
    """A file of the Batch API (``/v1/files``): its bytes live in ``file_chunks``.

    An input file holds the callers' raw texts: it is deleted when its batch ends unless
    the caller asked to keep it (``batches.keep_input_file``). Output and error files
    hold verdicts and error messages only.
    """

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_api_key_id_created_at", "api_key_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    purpose: Mapped[FilePurpose] = mapped_column(_enum(FilePurpose, "purpose"))
    filename: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    # Non-blank lines: the requests of an input file.
    lines: Mapped[int] = mapped_column(Integer)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FileChunk(Base):
    """One piece of a file, in order: files are written and read a chunk at a time, so a
    200 MB file never sits whole in memory."""

    __tablename__ = "file_chunks"

    file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BatchRecord(Base):
    """An OpenAI-style batch: its life cycle, its request counts and its files.

    The file ids are kept without foreign keys: a batch names its input file after the
    file is deleted, as OpenAI's does.
    """

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint("completed >= 0 AND failed >= 0", name="counts"),
        Index("ix_batches_api_key_id_created_at", "api_key_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    endpoint: Mapped[str] = mapped_column(String(64))
    completion_window: Mapped[str] = mapped_column(String(16))
    meta: Mapped[Any | None] = mapped_column("metadata", JSON(none_as_null=True))
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus, "status"))
    input_file_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    keep_input_file: Mapped[bool] = mapped_column(Boolean, default=False)
    output_file_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    error_file_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The requests (non-blank lines) of the input, as counted at upload and again when read.
    total: Mapped[int | None] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # Input lines already turned into jobs or error rows (a redelivered run resumes here).
    lines_read: Mapped[int] = mapped_column(Integer, default=0)
    # The batch's own errors (OpenAI's ``errors.data``): why it failed as a whole.
    errors: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    in_progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finalizing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelling_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BatchJob(Base):
    """A bulk job running part of a batch: the input lines from ``first_line`` of one
    mode (a chat batch may mix prompt and response moderation). Unique per (batch,
    first_line, mode), so a redelivered run never submits a part twice."""

    __tablename__ = "batch_jobs"
    __table_args__ = (UniqueConstraint("batch_id", "first_line", "mode"),)

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    first_line: Mapped[int] = mapped_column(Integer)
    mode: Mapped[Mode] = mapped_column(_enum(Mode, "mode"))
    # Input lines (requests) this job carries.
    lines: Mapped[int] = mapped_column(Integer)


class BatchLineError(Base):
    """An input line that could not run: its number, the problem, never its content."""

    __tablename__ = "batch_errors"

    batch_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    custom_id: Mapped[str | None] = mapped_column(String(REF_LENGTH))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    param: Mapped[str | None] = mapped_column(String(200))
