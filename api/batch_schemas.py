"""Bodies of the Batch API (``/v1/files``, ``/v1/batches``) in OpenAI's shapes, and the
functions that build them from store values. Ids are OpenAI-style strings over the
store's UUIDs: ``file-<hex>``, ``batch_<hex>``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.openai_compat import public_model_name
from guardq.store.batches import BatchInfo
from guardq.store.enums import BatchStatus, FilePurpose
from guardq.store.files import FileInfo

FILE_PREFIX = "file-"
BATCH_PREFIX = "batch_"


def file_id(value: uuid.UUID) -> str:
    return f"{FILE_PREFIX}{value.hex}"


def batch_id(value: uuid.UUID) -> str:
    return f"{BATCH_PREFIX}{value.hex}"


def parse_id(value: str, prefix: str) -> uuid.UUID | None:
    """The UUID of an id such as ``file-<hex>``; None when it is not one."""
    if not value.startswith(prefix):
        return None
    try:
        return uuid.UUID(hex=value[len(prefix) :])
    except ValueError:
        return None


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose
    status: Literal["uploaded", "processed", "error"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool


def file_object(info: FileInfo) -> FileObject:
    return FileObject(
        id=file_id(info.id),
        bytes=info.bytes,
        created_at=_unix(info.created_at),
        filename=info.filename,
        purpose=info.purpose,
    )


MetadataKey = Annotated[str, StringConstraints(max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]


class BatchCreate(BaseModel):
    """``POST /v1/batches``. ``keep_input_file`` is guardq's own (send it with the OpenAI
    client's ``extra_body``): the input file, which holds the raw texts, is otherwise
    deleted when the batch ends."""

    model_config = ConfigDict(extra="ignore")

    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)] | None = None
    keep_input_file: bool = False


class BatchError(BaseModel):
    code: str | None = None
    line: int | None = None
    message: str | None = None
    param: str | None = None


class BatchErrors(BaseModel):
    object: Literal["list"] = "list"
    data: list[BatchError]


class BatchRequestCounts(BaseModel):
    total: int
    completed: int
    failed: int


class BatchObject(BaseModel):
    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    model: str
    errors: BatchErrors | None
    input_file_id: str
    completion_window: str
    status: BatchStatus
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    request_counts: BatchRequestCounts
    metadata: dict[str, str] | None
    # guardq's own: whether the input file outlives the batch.
    keep_input_file: bool


class BatchList(BaseModel):
    object: Literal["list"] = "list"
    data: list[BatchObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


def batch_object(info: BatchInfo, live: tuple[int, int] | None = None) -> BatchObject:
    """``live``: (completed, failed) counted while the batch runs (the row's counters are
    final once it has ended)."""
    completed, failed = live if live is not None else (info.completed, info.failed)
    return BatchObject(
        id=batch_id(info.id),
        endpoint=info.endpoint,
        model=public_model_name(info.model_id),
        errors=BatchErrors(data=[BatchError(**e) for e in info.errors]) if info.errors else None,
        input_file_id=file_id(info.input_file_id),
        completion_window=info.completion_window,
        status=info.status,
        output_file_id=file_id(info.output_file_id) if info.output_file_id else None,
        error_file_id=file_id(info.error_file_id) if info.error_file_id else None,
        created_at=_unix(info.created_at),
        in_progress_at=_unix(info.in_progress_at),
        expires_at=_unix(info.expires_at),
        finalizing_at=_unix(info.finalizing_at),
        completed_at=_unix(info.completed_at),
        failed_at=_unix(info.failed_at),
        expired_at=_unix(info.expired_at),
        cancelling_at=_unix(info.cancelling_at),
        cancelled_at=_unix(info.cancelled_at),
        request_counts=BatchRequestCounts(
            total=info.total or 0, completed=completed, failed=failed
        ),
        metadata=info.metadata,
        keep_input_file=info.keep_input_file,
    )
