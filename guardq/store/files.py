"""The Batch API's files, kept in the store as ordered chunks of ``CHUNK_BYTES``.

Why in the store rather than a data directory: a batch's input is read by a worker,
which may run on another host than the API that took the upload; the store is the one
thing every guardq process already reaches. A file and its chunks commit in one
transaction with the row that names them, so a crash leaves no half-written file and
no orphan on a disk; deleting the row deletes the bytes (ON DELETE CASCADE); backups of
the store hold the files. Files are written and read a chunk at a time, so no file sits
whole in memory, whatever its size.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from guardq.store.db import session_scope
from guardq.store.enums import FilePurpose
from guardq.store.models import FileChunk, StoredFile

# 1 MiB: a 200 MB file is 200 rows, each small enough to hold in memory at once.
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    id: uuid.UUID
    purpose: FilePurpose
    filename: str
    bytes: int
    lines: int
    api_key_id: uuid.UUID | None
    created_at: datetime


class FileTooLarge(ValueError):
    """The upload passed a limit; the message names it."""


def _info(row: StoredFile) -> FileInfo:
    return FileInfo(
        id=row.id,
        purpose=row.purpose,
        filename=row.filename,
        bytes=row.bytes,
        lines=row.lines,
        api_key_id=row.api_key_id,
        created_at=row.created_at,
    )


def store_file(
    *,
    session: Session,
    source: BinaryIO,
    filename: str,
    purpose: FilePurpose,
    api_key_id: uuid.UUID | None,
    max_bytes: int,
    max_lines: int,
) -> FileInfo:
    """Copy ``source`` into the store a chunk at a time; raises FileTooLarge (naming the
    limit) past ``max_bytes`` or ``max_lines`` non-blank lines. Nothing is kept when it
    raises (the caller's transaction rolls back)."""
    file_id = uuid.uuid4()
    session.execute(
        insert(StoredFile.__table__).values(
            id=file_id, purpose=purpose, filename=filename[:255], bytes=0, lines=0,
            api_key_id=api_key_id,
        )
    )  # fmt: skip
    size = lines = seq = 0
    in_line = False  # inside a non-blank line that has not ended yet
    while chunk := source.read(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLarge(f"over the limit of {max_bytes} bytes (GUARDQ_BATCH_MAX_FILE_BYTES)")
        lines, in_line = _tally(chunk, lines, in_line)
        if lines > max_lines:
            raise FileTooLarge(
                f"over the limit of {max_lines} requests (lines) per file (GUARDQ_BATCH_MAX_LINES)"
            )
        session.execute(insert(FileChunk.__table__).values(file_id=file_id, seq=seq, data=chunk))
        seq += 1
    session.execute(
        update(StoredFile.__table__)
        .where(StoredFile.__table__.c.id == file_id)
        .values(bytes=size, lines=lines)
    )
    return _info(session.get(StoredFile, file_id))


def _tally(chunk: bytes, lines: int, in_line: bool) -> tuple[int, bool]:
    """Count non-blank lines across chunk boundaries: a line is counted at its first
    non-whitespace byte; ``in_line`` carries whether one is open at the chunk's start."""
    for part_index, part in enumerate(chunk.split(b"\n")):
        if part_index:  # a newline came before this part: the open line ended
            in_line = False
        if not in_line and part.strip():
            lines += 1
            in_line = True
    return lines, in_line


def write_file(
    *,
    session: Session,
    chunks: Iterable[bytes],
    filename: str,
    purpose: FilePurpose,
    api_key_id: uuid.UUID | None,
    lines: int,
) -> FileInfo:
    """A file made of ``chunks`` (each stored as it comes), in the caller's transaction."""
    file_id = uuid.uuid4()
    session.execute(
        insert(StoredFile.__table__).values(
            id=file_id, purpose=purpose, filename=filename, bytes=0, lines=lines,
            api_key_id=api_key_id,
        )
    )  # fmt: skip
    size = 0
    for seq, chunk in enumerate(chunks):
        size += len(chunk)
        session.execute(insert(FileChunk.__table__).values(file_id=file_id, seq=seq, data=chunk))
    session.execute(
        update(StoredFile.__table__).where(StoredFile.__table__.c.id == file_id).values(bytes=size)
    )
    return _info(session.get(StoredFile, file_id))


def get_file(*, session: Session, file_id: uuid.UUID) -> FileInfo | None:
    row = session.get(StoredFile, file_id, populate_existing=True)
    return _info(row) if row is not None else None


def delete_file(*, session: Session, file_id: uuid.UUID) -> bool:
    """Delete the file and its bytes; whether it existed."""
    return session.execute(delete(StoredFile).where(StoredFile.id == file_id)).rowcount == 1


def chunk_count(*, session: Session, file_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).where(FileChunk.file_id == file_id)) or 0


def read_chunks(factory: sessionmaker[Session], file_id: uuid.UUID) -> Iterator[bytes]:
    """The file's bytes a chunk at a time, each read in its own short transaction (a slow
    reader holds no connection). Stops early if the file is deleted meanwhile."""
    seq = 0
    while True:
        with session_scope(factory) as session:
            data = session.scalar(
                select(FileChunk.data).where(FileChunk.file_id == file_id, FileChunk.seq == seq)
            )
        if data is None:
            return
        yield bytes(data)
        seq += 1


def read_lines(
    factory: sessionmaker[Session], file_id: uuid.UUID, max_line_bytes: int
) -> Iterator[bytes | None]:
    """The file's lines, without their newline, read a chunk at a time; None for a line
    longer than ``max_line_bytes`` (its bytes are dropped as they come, never held)."""
    rest, overlong = b"", False
    for chunk in read_chunks(factory, file_id):
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            yield None if overlong or len(rest) + len(part) > max_line_bytes else rest + part
            rest, overlong = b"", False
        if overlong or len(rest) + len(parts[-1]) > max_line_bytes:
            rest, overlong = b"", True
        else:
            rest += parts[-1]
    if overlong:
        yield None
    elif rest:
        yield rest
