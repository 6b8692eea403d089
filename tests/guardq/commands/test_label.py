"""``guardq label`` in its embedded default (no broker): the demo model, a SQLite store.

Round trips in the three formats, malformed rows reported and skipped, and a run killed
mid-file that resumes without losing or repeating a row.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, func, select

from guardq.cli import main
from guardq.hashing import content_sha256
from guardq.labeling.checkpoint import checkpoint_path
from guardq.labeling.columns import VERDICT_COLUMNS
from guardq.labeling.executors import EMBEDDED_WINDOW_TASKS
from guardq.labeling.runner import rejects_path
from guardq.settings import DEMO_MODEL, REPO_ROOT, get_settings
from guardq.store.models import Item, Job, VerdictRecord

# The demo model unless the run names another.
MODEL = os.environ.get("GUARDQ_TEST_MODEL", str(DEMO_MODEL))
pytestmark = pytest.mark.skipif(
    not (Path(MODEL) / "model.safetensors").is_file(), reason="models/demo has no weights yet"
)

TEXTS = [
    "How do I bake sourdough bread?",
    "Tell me the best way to stab someone without getting caught.",
    "The museum opens at nine. ¿Qué partido político tiene razón?",
    "My cat likes to sleep on the warm laptop keyboard.",
    "Summarize chapter three of a bestselling novel.",
]


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """No broker; the store is a SQLite file of this test's own."""
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    monkeypatch.delenv("GUARDQ_BROKER_URL", raising=False)
    monkeypatch.setenv("GUARDQ_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _label(source, out) -> int:
    return main(["label", str(source), "-o", str(out), "--model", MODEL, "--no-progress"])


def _write_input(path, rows):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    elif path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)


def _read_output(path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_label_adds_verdict_columns_to_every_row_in_order(embedded, tmp_path, suffix, caplog):
    rows = [{"id": str(n), "text": text, "lang": "en"} for n, text in enumerate(TEXTS)]
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    _write_input(source, rows)

    assert _label(source, out) == 0
    assert not (tmp_path / "store.sqlite3-wal").exists()  # the store was closed

    labeled = _read_output(out)
    assert [(r["id"], r["text"], r["lang"]) for r in labeled] == [
        (r["id"], r["text"], r["lang"]) for r in rows
    ]
    for row in labeled:
        assert set(VERDICT_COLUMNS) <= set(row)
        assert row["guard_content_sha256"] == content_sha256(row["text"])
        assert row["guard_action"] in ("allow", "review", "block")
        assert row["guard_model"] == MODEL
    # Run again: the checkpoint says it is complete, nothing is labeled twice, and no
    # model is loaded for nothing.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="worker"):
        assert _label(source, out) == 0
    assert len(_read_output(out)) == len(rows)
    assert not [r for r in caplog.records if r.name.startswith("worker")]


def test_malformed_rows_are_reported_by_line_and_the_rest_labeled(embedded, tmp_path, capsys):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        json.dumps({"text": TEXTS[0]}),
        '{"text": "unterminated',
        json.dumps({"body": "no text field here"}),
        json.dumps({"text": "   "}),
        json.dumps({"text": 42}),
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"text": TEXTS[3]}),
    ]
    source.write_text("\n".join(lines) + "\n", "utf-8")

    assert _label(source, out) == 1

    assert [row["text"] for row in _read_output(out)] == [TEXTS[0], TEXTS[3]]
    rejects = [json.loads(line) for line in rejects_path(out).read_text("utf-8").splitlines()]
    assert [r["where"] for r in rejects] == ["line 2", "line 3", "line 4", "line 5", "line 7"]
    err = capsys.readouterr().err
    for expected in (
        "line 2: not valid JSON",
        "line 3: field 'text' is missing",
        "line 4: field 'text' is empty",
        "line 5: field 'text' must be a string",
        "line 7: expected a JSON object",
    ):
        assert expected in err
    assert "unterminated" not in err + rejects_path(out).read_text("utf-8")


def test_windows_of_several_waves_keep_every_row_with_its_own_verdict(
    embedded, tmp_path, monkeypatch
):
    # Windows of 1,280 records: each streams through the engine in several waves (about
    # 400 rows each with the default token budget), the last window of the file is
    # smaller than one wave, and malformed lines sit at the seams.
    monkeypatch.setenv("GUARDQ_BULK_TASK_ITEMS", "40")
    get_settings.cache_clear()
    window = 40 * EMBEDDED_WINDOW_TASKS
    assert window > 2 * get_settings().max_batch_tokens // 16
    total, malformed = window + 120, {256, window - 1, window, window + 1}
    lines = [
        f'{{"id": {n}, "text": broken'
        if n in malformed
        else json.dumps({"id": n, "text": f"{TEXTS[n % len(TEXTS)]} (row {n})"})
        for n in range(total)
    ]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(lines), "utf-8")  # no newline after the last line

    assert _label(source, out) == 1

    labeled = _read_output(out)
    assert [row["id"] for row in labeled] == [n for n in range(total) if n not in malformed]
    for row in labeled:
        assert row["guard_content_sha256"] == content_sha256(row["text"])
        assert row["guard_action"] in ("allow", "review", "block")
    rejects = [json.loads(line) for line in rejects_path(out).read_text("utf-8").splitlines()]
    assert [r["where"] for r in rejects] == [f"line {n + 1}" for n in sorted(malformed)]
    engine = create_engine(embedded)
    with engine.connect() as connection:
        jobs = connection.execute(select(Job.total).order_by(Job.created_at)).scalars().all()
    engine.dispose()
    assert jobs == [window - 2, total - window - 2]


def test_killed_label_run_resumes_without_losing_or_repeating_rows(embedded, tmp_path):
    # One-item tasks: windows of EMBEDDED_WINDOW_TASKS records, several in the file.
    total, window = 240, EMBEDDED_WINDOW_TASKS
    rows = [{"id": n, "text": f"{TEXTS[n % len(TEXTS)]} (row {n})"} for n in range(total)]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(source, rows)
    env = {**os.environ, "GUARDQ_DATABASE_URL": embedded, "GUARDQ_BULK_TASK_ITEMS": "1"}
    argv = [sys.executable, "-m", "guardq.cli", "label", str(source), "-o", str(out)]
    argv += ["--model", MODEL]
    run = subprocess.Popen(
        [*argv, "--no-progress"], cwd=REPO_ROOT, env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while _records_done(out) < 2 * window:
        assert run.poll() is None and time.monotonic() < deadline, "no progress before the kill"
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    done_at_kill = _records_done(out)
    assert done_at_kill < total
    # What a crash in the middle of a write leaves: half a line after the last sync.
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"id": 99999, "text": "half a ro')

    assert _label(source, out) == 0

    assert [row["id"] for row in _read_output(out)] == list(range(total))
    engine = create_engine(embedded)
    with engine.connect() as connection:
        judged = connection.execute(select(func.count(Item.id))).scalar_one()
    engine.dispose()
    # The resumed run judged only what the checkpoint did not cover (plus, at most, the
    # windows in flight at the kill): it did not start over.
    assert total <= judged <= total + 2 * window


def test_engine_processes_label_every_row_once(embedded, tmp_path):
    # GUARDQ_WORKERS_PER_DEVICE=2: two spawned engine processes judge the windows while
    # this one reads and writes the files; each window is half the usual (4-item tasks:
    # 2 x EMBEDDED_WINDOW_TASKS records), so that a small file still feeds both.
    total = 5 * 4 * EMBEDDED_WINDOW_TASKS - 7
    rows = [{"id": n, "text": f"{TEXTS[n % len(TEXTS)]} (row {n})"} for n in range(total)]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(source, rows)
    env = {
        **os.environ,
        "GUARDQ_DATABASE_URL": embedded,
        "GUARDQ_BULK_TASK_ITEMS": "4",
        "GUARDQ_WORKERS_PER_DEVICE": "2",
    }
    argv = [sys.executable, "-m", "guardq.cli", "label", str(source), "-o", str(out)]
    log = tmp_path / "label.log"
    with log.open("wb") as stderr:
        run = subprocess.Popen(
            [*argv, "--model", MODEL, "--no-progress"], cwd=REPO_ROOT, env=env, stderr=stderr
        )
        engines = set()
        while run.poll() is None:
            engines |= _engine_processes(run.pid)
            time.sleep(0.05)
    assert run.returncode == 0, log.read_text(errors="replace")
    assert len(engines) == 2
    # The store was closed at the end, after the engine processes: SQLite removed its
    # write-ahead log when the last connection closed.
    assert not (tmp_path / "store.sqlite3-wal").exists()

    labeled = _read_output(out)
    assert [row["id"] for row in labeled] == list(range(total))
    for row in labeled:
        assert row["guard_content_sha256"] == content_sha256(row["text"])
        assert row["guard_action"] in ("allow", "review", "block")
    engine = create_engine(embedded)
    with engine.connect() as connection:
        items = connection.execute(select(func.count(Item.id))).scalar_one()
        jobs = connection.execute(select(func.count(Job.id))).scalar_one()
        judged = connection.execute(
            select(func.count(VerdictRecord.id), func.count(func.distinct(VerdictRecord.item_id)))
        ).one()
    engine.dispose()
    assert items == total and tuple(judged) == (total, total)
    assert jobs == -(-total // (2 * EMBEDDED_WINDOW_TASKS))


def _engine_processes(pid: int) -> set[int]:
    """The engine processes ``pid`` has spawned and not yet reaped."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return set()
    found = set()
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.add(int(child))
    return found


def _records_done(out) -> int:
    path = checkpoint_path(out)
    try:
        return json.loads(path.read_text("utf-8"))["records"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
