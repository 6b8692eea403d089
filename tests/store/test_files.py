"""Batch API files in the store: chunked writes and reads, line counts, limits."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from guardq.store.db import session_scope
from guardq.store.enums import FilePurpose
from guardq.store.files import (
    CHUNK_BYTES,
    FileTooLarge,
    delete_file,
    get_file,
    read_chunks,
    read_lines,
    store_file,
)
from guardq.store.models import FileChunk, StoredFile

pytestmark = pytest.mark.integration


def store(factory, content: bytes, **limits):
    limits = {"max_bytes": 1 << 30, "max_lines": 1 << 20, **limits}
    with session_scope(factory) as session:
        return store_file(
            session=session, source=io.BytesIO(content), filename="in.jsonl",
            purpose=FilePurpose.BATCH, api_key_id=None, **limits,
        )  # fmt: skip


def test_lines_across_chunk_boundaries_are_read_back_exactly(factory):
    lines = [b"x" * (CHUNK_BYTES // 3 + n) for n in range(7)]
    lines[3] = b"   "  # blank: not a request, but still a line of the file
    lines[5] = b"y" * (CHUNK_BYTES + 10)  # longer than the reader's bound below
    content = b"\n".join(lines) + b"\n\n"
    info = store(factory, content)
    assert (info.bytes, info.lines) == (len(content), 6)
    with session_scope(factory) as session:
        chunks = session.scalar(select(func.count()).select_from(FileChunk))
    assert chunks == -(-len(content) // CHUNK_BYTES) >= 3

    assert b"".join(read_chunks(factory, info.id)) == content
    read = list(read_lines(factory, info.id, max_line_bytes=CHUNK_BYTES))
    assert read == [*lines[:5], None, lines[6], b""]


def test_a_file_past_a_limit_is_refused_and_nothing_is_kept(factory):
    with pytest.raises(FileTooLarge, match="3 requests"):
        store(factory, b"a\n\nb\nc\nd\n", max_lines=3)
    with pytest.raises(FileTooLarge, match="10 bytes"):
        store(factory, b"0123456789ab", max_bytes=10)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(StoredFile)) == 0


def test_deleting_a_file_deletes_its_chunks(factory):
    info = store(factory, b"a\n" * CHUNK_BYTES)
    with session_scope(factory) as session:
        assert delete_file(session=session, file_id=info.id)
        assert get_file(session=session, file_id=info.id) is None
        assert session.scalar(select(func.count()).select_from(FileChunk)) == 0
        assert not delete_file(session=session, file_id=info.id)
