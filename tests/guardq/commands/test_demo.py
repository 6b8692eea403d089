import json

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
