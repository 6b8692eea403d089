"""Writing labeled rows so that a crash loses nothing and a resume repeats nothing.

Each writer appends, and ``sync()`` makes what was written durable (flush + fsync) and
returns its position: bytes for JSONL and CSV, finished part files for Parquet. The
runner records positions in a checkpoint only after syncing; reopening a writer at the
checkpoint's position cuts whatever a crash left after it (a half-written line
included), so the rows of an interrupted batch are written again exactly once.

Parquet cannot be appended to, so its rows go to part files in ``OUT.parts/``, each
written whole and renamed into place; ``finish()`` joins them into OUT.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

from guardq.labeling.columns import VERDICT_COLUMNS


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AppendWriter:
    """A text file appended to; reopened at a synced byte position."""

    def __init__(self, path: Path, position: int) -> None:
        self.path = path
        with path.open("ab") as handle:
            handle.truncate(position)
        self.handle = path.open("a", encoding="utf-8", newline="")
        self.started_empty = position == 0

    def sync(self) -> int:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        return self.handle.tell()

    def finish(self) -> None:
        self.handle.close()

    def close(self) -> None:
        self.handle.close()


class JsonlWriter(AppendWriter):
    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


class CsvWriter(AppendWriter):
    def __init__(self, path: Path, position: int, columns: list[str]) -> None:
        super().__init__(path, position)
        self.fieldnames = columns + list(VERDICT_COLUMNS)
        self.writer = csv.DictWriter(self.handle, fieldnames=self.fieldnames)
        if self.started_empty:
            self.writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.writer.writerows(rows)


class ParquetWriter:
    """Rows buffered per batch, each batch one part file; joined into OUT at the end."""

    def __init__(self, path: Path, position: int, schema) -> None:
        import pyarrow as pa

        self.path = path
        self.parts = path.with_name(path.name + ".parts")
        self.parts.mkdir(exist_ok=True)
        self.schema = schema
        for name, type_name in VERDICT_COLUMNS.items():
            self.schema = self.schema.append(pa.field(name, pa.type_for_alias(type_name)))
        self.count = position
        for stale in self.parts.glob("part-*.parquet"):
            if int(stale.stem.split("-")[1]) >= position:
                stale.unlink()
        self.buffer: list[dict[str, Any]] = []

    def _part(self, index: int) -> Path:
        return self.parts / f"part-{index:08d}.parquet"

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.buffer.extend(rows)

    def sync(self) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.buffer:
            table = pa.Table.from_pylist(self.buffer, schema=self.schema)
            tmp = self.parts / "part.tmp"
            pq.write_table(table, tmp)
            with tmp.open("rb") as handle:
                os.fsync(handle.fileno())
            tmp.replace(self._part(self.count))
            _fsync_dir(self.parts)
            self.count += 1
            self.buffer = []
        return self.count

    def finish(self) -> None:
        import pyarrow.parquet as pq

        tmp = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(tmp, self.schema) as writer:
            for index in range(self.count):
                writer.write_table(pq.read_table(self._part(index), schema=self.schema))
        tmp.replace(self.path)
        shutil.rmtree(self.parts)

    def close(self) -> None:
        self.buffer = []


def open_writer(fmt: str, path: Path, position: int, *, columns=None, schema=None):
    """The writer of ``fmt`` on ``path``, cut back to the synced ``position``."""
    if fmt == "jsonl":
        return JsonlWriter(path, position)
    if fmt == "csv":
        return CsvWriter(path, position, columns or [])
    return ParquetWriter(path, position, schema)
