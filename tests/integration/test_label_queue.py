"""``guardq label`` with GUARDQ_BROKER_URL set: the rows are judged by the real worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from guardq.settings import REPO_ROOT

pytestmark = pytest.mark.integration


def test_label_through_the_workers_writes_every_row_in_order(services, celery_worker, tmp_path):
    rows = [{"id": n, "text": f"Is the library open on holiday {n}?"} for n in range(40)]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")

    run = subprocess.run(
        [sys.executable, "-m", "guardq.cli", "label", str(source), "-o", str(out), "--no-progress"],
        cwd=REPO_ROOT,
        env={**services.env, "GUARDQ_BULK_TASK_ITEMS": "8"},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    labeled = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [row["id"] for row in labeled] == [row["id"] for row in rows]
    assert all(row["guard_action"] in ("allow", "review", "block") for row in labeled)
    # The queued jobs were judged by the shared worker, not in the labeling process.
    assert "worker.engine" not in run.stderr
