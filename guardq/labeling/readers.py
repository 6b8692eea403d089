"""Reading a dataset to label: JSONL, CSV or Parquet, record by record, validated.

Every record keeps its place in the file (``line N`` for JSONL and CSV, ``row N`` for
Parquet) so that errors name it. A malformed record becomes a ``Record`` with an
``error`` instead of stopping the file; blank JSONL lines are skipped silently.

No line or cell longer than ``GUARDQ_LABEL_MAX_LINE_CHARS`` is read into memory: a
JSONL line is read in bounded pieces and a longer one is skipped with an error naming
it; a Parquet cell's length is read from Arrow before the row becomes Python objects.
A CSV record may span lines inside quotes, so the parser cannot find the next record
after a line or cell it did not read: there the file stops, naming the line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from guardq.inputs import unstorable
from guardq.settings import get_settings
from guardq.store.jobs import NewItem
from guardq.verdict import Mode

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
PARQUET_BATCH_ROWS = 1024


def file_format(path: Path) -> str:
    """``jsonl``, ``csv`` or ``parquet``, from the file's extension."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{path}: unknown format {path.suffix!r}; expected one of {sorted(FORMATS)}"
        ) from None


@dataclass(frozen=True)
class Fields:
    """Which columns hold the content: ``text`` (prompt mode) or prompt + response."""

    mode: Mode
    text: str = "text"
    prompt: str = "prompt"
    response: str = "response"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.text,) if self.mode is Mode.PROMPT else (self.prompt, self.response)


@dataclass(frozen=True)
class Record:
    """One record of the input: its ``row`` when it parsed, else ``error``."""

    where: str
    row: dict[str, Any] | None
    error: str | None = None

    @property
    def blank(self) -> bool:
        """An empty line: neither a row nor an error, skipped without a word."""
        return self.row is None and self.error is None

    def item(self, fields: Fields) -> NewItem | str:
        """The item to moderate, or why there is none (naming the field, not quoting it)."""
        if self.row is None:
            return self.error or "no row"
        values = []
        for name in fields.names:
            value = self.row.get(name)
            if name not in self.row or value is None:
                return f"field {name!r} is missing"
            if not isinstance(value, str):
                return f"field {name!r} must be a string, got {type(value).__name__}"
            if not value.strip():
                return f"field {name!r} is empty"
            if problem := unstorable(value):
                return f"field {name!r} {problem[0]}"
            values.append(value)
        if fields.mode is Mode.PROMPT:
            return NewItem(text=values[0])
        return NewItem(text=values[1], prompt=values[0])


class Reader:
    """The records of ``path``; ``records(skip)`` resumes after ``skip`` of them."""

    def __init__(self, path: Path, *, max_line_chars: int | None = None) -> None:
        self.path = path
        self.format = file_format(path)
        self.max_chars = max_line_chars or get_settings().label_max_line_chars
        self.columns: list[str] | None = None  # CSV header / Parquet schema names
        self.schema = None  # the pyarrow schema of a Parquet input
        if self.format == "csv":
            with path.open(newline="", encoding="utf-8") as handle:
                self.columns = next(self._csv_reader(handle), (None, 0))[0] or []
        elif self.format == "parquet":
            import pyarrow.parquet as pq

            self.schema = pq.read_schema(path)
            self.columns = list(self.schema.names)

    def count(self) -> int:
        """How many records ``records()`` yields, for the progress bar: from the
        metadata (Parquet), the line ends counted in bytes (JSONL), or a pass of the
        CSV parser (a quoted field may span lines); no row is decoded or kept."""
        if self.format == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(self.path).metadata.num_rows
        if self.format == "csv":
            with self.path.open(newline="", encoding="utf-8", errors="replace") as handle:
                return max(0, sum(1 for _ in self._csv_reader(handle)) - 1)
        return _count_lines(self.path)

    def records(self, skip: int = 0) -> Iterator[Record]:
        return islice(self._all(), skip, None)

    def _all(self) -> Iterator[Record]:
        return {"jsonl": self._jsonl, "csv": self._csv, "parquet": self._parquet}[self.format]()

    def _jsonl(self) -> Iterator[Record]:
        # Lines end at "\n" only (a CRLF line keeps its "\r", which JSON takes for a
        # space), as ``_count_lines`` counts them.
        with self.path.open(encoding="utf-8", errors="replace", newline="\n") as handle:
            for number, line in enumerate(_bounded_lines(handle, self.max_chars), start=1):
                where = f"line {number}"
                if line is None:
                    yield Record(where, None, error=self._too_long("the line"))
                    continue
                if not line.strip():
                    yield Record(where, None, error=None)
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Record(where, None, error=f"not valid JSON ({exc.msg})")
                    continue
                if not isinstance(row, dict):
                    yield Record(where, None, error="expected a JSON object")
                    continue
                yield Record(where, row)

    def _csv(self) -> Iterator[Record]:
        with self.path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = self._csv_reader(handle)
            header = next(reader, (None, 0))[0] or []
            for values, first in reader:
                where = f"line {first}"
                if not values:
                    yield Record(where, None, error=None)
                    continue
                if len(values) != len(header):
                    yield Record(
                        where, None, error=f"{len(values)} fields, the header has {len(header)}"
                    )
                    continue
                yield Record(where, dict(zip(header, values, strict=True)))

    def _parquet(self) -> Iterator[Record]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
            size = batch.num_rows
            too_long = self._long_cells(batch)
            if too_long:
                keep = pa.array([i not in too_long for i in range(batch.num_rows)])
                batch = batch.filter(keep)
            rows = iter(batch.to_pylist())
            for index in range(size):
                number += 1
                if index in too_long:
                    cell = f"the cell {too_long[index]!r}"
                    yield Record(f"row {number}", None, error=self._too_long(cell))
                else:
                    yield Record(f"row {number}", next(rows))

    def _long_cells(self, batch) -> dict[int, str]:
        """Rows of ``batch`` holding a string or bytes cell over the limit: the column."""
        import pyarrow as pa
        import pyarrow.compute as pc

        found: dict[int, str] = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            kind = column.type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                lengths = pc.utf8_length(column)
            elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
                lengths = pc.binary_length(column)
            else:
                continue
            over = pc.greater(lengths, self.max_chars)
            for index in pc.indices_nonzero(pc.fill_null(over, False)).to_pylist():
                found.setdefault(index, name)
        return found

    def _csv_reader(self, handle: TextIO) -> Iterator[tuple[list[str], int]]:
        """``csv.reader``'s records with the number of their first line, on lines and
        cells of at most the limit; a longer one stops the file (a ValueError naming
        the line), since no record after it can be found."""
        # The csv module's cell limit is one setting of the whole process; guardq's
        # reader is its only user.
        csv.field_size_limit(self.max_chars)
        number = 0

        def lines() -> Iterator[str]:
            nonlocal number
            for line in _bounded_lines(handle, self.max_chars, ("\n", "\r")):
                number += 1
                if line is None:
                    raise ValueError(f"{self.path}: line {number}: {self._too_long('the line')}")
                yield line

        reader = csv.reader(lines())
        while True:
            first = number + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ValueError(f"{self.path}: line {number}: {exc}") from None
            yield values, first

    def _too_long(self, what: str) -> str:
        return (
            f"{what} is over the limit of {self.max_chars} characters "
            "(GUARDQ_LABEL_MAX_LINE_CHARS); not read"
        )


def _bounded_lines(
    handle: TextIO, limit: int, ends: tuple[str, ...] = ("\n",)
) -> Iterator[str | None]:
    """The lines of ``handle`` (each read whole only when within ``limit`` characters,
    its line end not counted); None in place of a longer one, skipped in pieces."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(ends):
            yield line
            continue
        while (rest := handle.readline(limit + 1)) and not rest.endswith(ends):
            pass
        yield None


def _count_lines(path: Path, block: int = 1 << 20) -> int:
    """The lines of ``path``, a last one without its "\\n" included."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")
