"""``Reader``: the progress bar's count agrees with the records, without decoding them."""

from __future__ import annotations

import csv
import json
import tracemalloc

import pytest

from guardq.labeling.readers import Fields, Reader
from guardq.verdict import Mode


@pytest.mark.parametrize(
    "text",
    [
        '{"text": "a"}\n{"text": "b"}\n',
        '{"text": "a"}\n\n{"text": "b"}',  # a blank line, no newline at the end
        '{"text": "a"}\r\n{"text": "b"}\r\n',  # CRLF
        '{"text":\r "a"}\n',  # a lone CR is a space between tokens, not a line end
        "",
    ],
)
def test_jsonl_count_matches_the_records(tmp_path, text):
    path = tmp_path / "in.jsonl"
    path.write_bytes(text.encode("utf-8"))
    reader = Reader(path)

    records = list(reader.records())

    assert reader.count() == len(records)
    assert all(r.error is None for r in records)


def test_jsonl_line_numbers_count_line_feeds_only(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "a"}\r\n{"text":\r "b"}\n{oops\n')

    records = list(Reader(path).records())

    assert [r.row for r in records[:2]] == [{"text": "a"}, {"text": "b"}]
    assert records[2].where == "line 3" and records[2].error.startswith("not valid JSON")


def test_csv_count_matches_the_records_when_a_field_spans_lines(tmp_path):
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([["1", "two\nlines"], ["2", "one line"], ["3", json.dumps("x\ny")]])
    reader = Reader(path)

    assert reader.count() == len(list(reader.records())) == 3


LIMIT = 1024


def _peak_bytes(read) -> int:
    """The peak of Python allocations while ``read()`` runs."""
    tracemalloc.start()
    try:
        read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_jsonl_line_over_the_limit_is_refused_by_number_without_being_read(tmp_path):
    path = tmp_path / "in.jsonl"
    huge = json.dumps({"text": "x" * 20_000_000})
    at_limit = json.dumps({"text": "y" * (LIMIT - 12)})
    assert len(at_limit) == LIMIT
    path.write_text(f'{{"text": "a"}}\n{huge}\n{at_limit}\n{{"text": "b"}}')
    reader = Reader(path, max_line_chars=LIMIT)

    records: list = []
    peak = _peak_bytes(lambda: records.extend(reader.records()))

    assert [r.where for r in records] == ["line 1", "line 2", "line 3", "line 4"]
    assert records[1].row is None
    assert records[1].error == (
        f"the line is over the limit of {LIMIT} characters (GUARDQ_LABEL_MAX_LINE_CHARS); not read"
    )
    assert records[0].row == {"text": "a"} and records[3].row == {"text": "b"}
    assert records[2].row == {"text": "y" * (LIMIT - 12)}
    assert reader.count() == 4
    # The 20 MB line never sat in memory: reads stay within a few times the limit.
    assert peak < 1_000_000, peak


def test_csv_line_over_the_limit_stops_the_file_naming_the_line(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,ref\nhello,1\n" + "x" * 5_000_000 + ",2\nbye,3\n")
    reader = Reader(path, max_line_chars=LIMIT)

    records = []
    with pytest.raises(ValueError, match=rf"in.csv: line 3: the line is over the limit of {LIMIT}"):
        _peak_bytes(lambda: records.extend(reader.records()))
    with pytest.raises(ValueError, match="line 3"):
        reader.count()


def test_csv_cell_over_the_limit_across_lines_stops_the_file_naming_the_line(tmp_path):
    path = tmp_path / "in.csv"
    cell = "\n".join(["y" * 100] * 20)  # 2,019 characters in 20 short lines
    path.write_text(f'text,ref\nhello,1\n"{cell}",2\nbye,3\n')

    with pytest.raises(ValueError, match=r"line \d+: field larger than field limit \(1024\)"):
        list(Reader(path, max_line_chars=LIMIT).records())


def test_csv_cells_past_the_csv_modules_default_limit_are_read(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text\n" + "z" * 200_000 + "\n")  # csv's own default stops at 131,072

    (record,) = Reader(path, max_line_chars=1_000_000).records()

    assert record.where == "line 2" and len(record.row["text"]) == 200_000


def test_parquet_cell_over_the_limit_is_refused_by_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "in.parquet"
    table = pa.table(
        {"text": ["a", "x" * (LIMIT + 1), "b", None], "blob": [b"", b"", b"z" * 5000, b""]}
    )
    pq.write_table(table, path)

    records = list(Reader(path, max_line_chars=LIMIT).records())

    assert [r.where for r in records] == ["row 1", "row 2", "row 3", "row 4"]
    assert records[0].row == {"text": "a", "blob": b""}
    assert records[1].error.startswith(f"the cell 'text' is over the limit of {LIMIT}")
    assert records[2].error.startswith("the cell 'blob' is over")
    assert records[3].row == {"text": None, "blob": b""}


def test_a_field_the_store_cannot_hold_is_a_rejected_row_naming_it(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "a\\u0000b"}\n{"text": "\\ud800 x"}\n')

    items = [r.item(Fields(Mode.PROMPT)) for r in Reader(path).records()]

    assert items[0].text == "ok"
    assert items[1] == (
        "field 'text' contains the NUL character (U+0000) at position 1, which the audit "
        "store cannot hold; remove it"
    )
    assert items[2].startswith("field 'text' contains a lone surrogate (U+D800) at position 0")
