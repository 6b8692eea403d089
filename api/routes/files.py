"""``/v1/files``: OpenAI's file endpoints, for Batch API input and output files.

An upload is streamed: Starlette spools the multipart part to a temporary file (on disk
past 1 MB) and the route copies it into the store a chunk at a time
(``guardq.store.files``); the content is streamed back the same way. A key sees the
files it uploaded and its batches' output files; an admin key sees every file.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from api.batch_schemas import FILE_PREFIX, FileDeleted, FileObject, file_id, file_object, parse_id
from api.client_errors import ClientError, OpenAIErrorRoute
from api.deps import FactoryDep, ProducerKey, SessionDep, SettingsDep
from guardq.store.batches import batches_reading
from guardq.store.db import session_scope
from guardq.store.enums import FilePurpose, KeyRole
from guardq.store.files import (
    FileInfo,
    FileTooLarge,
    delete_file,
    get_file,
    read_chunks,
    store_file,
)
from guardq.store.keys import ApiKeyInfo

router = APIRouter(prefix="/v1/files", tags=["batch API"], route_class=OpenAIErrorRoute)


def visible_file(
    session: Session, value: str, key: ApiKeyInfo, param: str | None = None
) -> FileInfo:
    """The file named ``value`` if ``key`` may see it, else 404 (the same answer for
    absent and not yours)."""
    parsed = parse_id(value, FILE_PREFIX)
    info = get_file(session=session, file_id=parsed) if parsed else None
    if info is None or (key.role is not KeyRole.ADMIN and info.api_key_id != key.id):
        raise ClientError(404, f"No such file: {value!r}", param, code="file_not_found")
    return info


@router.post("", response_model=FileObject)
async def upload_file(
    file: Annotated[UploadFile, File(description="A JSONL file of batch requests.")],
    purpose: Annotated[str, Form()],
    key: ProducerKey,
    factory: FactoryDep,
    settings: SettingsDep,
) -> FileObject:
    """Upload a Batch API input file (``purpose=batch``)."""
    if purpose != FilePurpose.BATCH:
        raise ClientError(
            400, f"guardq takes files for the Batch API only: purpose must be 'batch', got "
            f"{purpose[:40]!r}", param="purpose", code="invalid_purpose",
        )  # fmt: skip

    def store() -> FileInfo:
        with session_scope(factory) as session:
            return store_file(
                session=session,
                source=file.file,
                # Postgres text cannot hold NUL; a name is not worth refusing a file for.
                filename=(file.filename or "").replace("\x00", "") or "upload.jsonl",
                purpose=FilePurpose.BATCH,
                api_key_id=key.id,
                max_bytes=settings.batch_max_file_bytes,
                max_lines=settings.batch_max_lines,
            )

    try:
        info = await run_in_threadpool(store)
    except FileTooLarge as exc:
        raise ClientError(400, f"file: {exc}", param="file", code="file_too_large") from None
    finally:
        await file.close()
    return file_object(info)


@router.get("/{file}", response_model=FileObject)
def retrieve_file(file: str, session: SessionDep, key: ProducerKey) -> FileObject:
    return file_object(visible_file(session, file, key))


@router.get("/{file}/content", responses={200: {"content": {"application/jsonl": {}}}})
def file_content(file: str, factory: FactoryDep, key: ProducerKey) -> StreamingResponse:
    """The file's bytes, streamed a chunk at a time."""
    with session_scope(factory) as session:
        info = visible_file(session, file, key)
    return StreamingResponse(
        read_chunks(factory, info.id),
        media_type="application/jsonl",
        headers={"Content-Length": str(info.bytes)},
    )


@router.delete("/{file}", response_model=FileDeleted)
def remove_file(file: str, session: SessionDep, key: ProducerKey) -> FileDeleted:
    info = visible_file(session, file, key)
    reading: list[uuid.UUID] = batches_reading(session=session, file_id=info.id)
    if reading:
        raise ClientError(
            409, f"file {file} is the input of batch_{reading[0].hex}, which is still "
            "reading it; cancel the batch or wait until it is in_progress",
            code="file_in_use",
        )  # fmt: skip
    delete_file(session=session, file_id=info.id)
    return FileDeleted(id=file_id(info.id), deleted=True)
