import json
import sqlite3

from guardq.cli import main
from guardq.commands.demo import EXAMPLES


def test_bundled_examples_cover_both_modes():
    rows = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    assert any("text" in row for row in rows)
    assert any("response" in row for row in rows)


def test_demo_reports_a_malformed_line_with_its_number(tmp_path, capsys):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "fine"}\n\n{"text": oops}\n', encoding="utf-8")
    assert main(["demo", "--inputs", str(inputs)]) == 2
    err = capsys.readouterr().err
    assert "line 3: not valid JSON" in err
    assert "oops" not in err


def test_demo_rejects_a_row_that_is_not_an_object(tmp_path, capsys):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('["a list"]\n', encoding="utf-8")
    assert main(["demo", "--inputs", str(inputs)]) == 2
    assert "line 1: expected a JSON object" in capsys.readouterr().err


def test_demo_labels_the_examples_through_the_embedded_pipeline_and_store(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    rows = EXAMPLES.read_text(encoding="utf-8").splitlines()
    assert f"{len(rows)} items: {len(rows)} judged, 0 failed, 0 served" in out
    # The command closed its store: SQLite folds the write-ahead log back into the file
    # and removes it when the last connection closes, so none is left beside it.
    assert not (tmp_path / "guardq.sqlite3-wal").exists()

    store = sqlite3.connect(tmp_path / "guardq.sqlite3")
    responses = sum('"response"' in row for row in rows)
    jobs = dict(store.execute("SELECT mode, total FROM jobs").fetchall())
    assert jobs == {"prompt": len(rows) - responses, "response": responses}
    assert store.execute("SELECT count(*) FROM verdicts").fetchone()[0] == len(rows)
    reviews = store.execute("SELECT count(*) FROM verdicts WHERE action = 'review'").fetchone()[0]
    assert store.execute("SELECT count(*) FROM escalations").fetchone()[0] == reviews
    assert f"escalated to reviewers: {reviews}" in out

    # Run again: every text is in the verdict cache now, so the model judges none.
    assert main(["demo"]) == 0
    assert f"{len(rows)} served from the verdict cache" in capsys.readouterr().out
