"""``Reader``: the progress bar's count agrees with the records, without decoding them."""

from __future__ import annotations

import csv
import json

import pytest

from guardq.labeling.readers import Reader


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
