"""The store's own costs per batch, on Postgres and embedded SQLite, without a model.

    .venv/bin/python benchmarks/store.py [--items 1000] [--rounds 6] [--json]

Times, per backend, the three things the pipeline asks of the store for every batch:
``create_job`` (a job of N items, as the API and ``guardq label`` write it),
``guardq.recording.commit`` of N inferred verdicts (verdicts, cache entries, a tenth
escalated for review, item statuses, job counters) and reading the N results back
(``list_results`` pages, as ``guardq label`` and ``GET /v1/jobs/{id}/results`` do).
Each is the median of ``--rounds`` rounds after the first (which compiles the
statements). Postgres is a scratch database (benchmarks/services.py), dropped at the
end; SQLite a temporary file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from services import scratch_stores  # noqa: E402

from guardq.policy import Policy  # noqa: E402
from guardq.recording import Judged, commit  # noqa: E402
from guardq.store.db import create_db_engine, session_factory, session_scope  # noqa: E402
from guardq.store.enums import Priority  # noqa: E402
from guardq.store.jobs import MAX_PAGE, NewItem, create_job, list_results  # noqa: E402
from guardq.store.migrate import upgrade_database  # noqa: E402
from guardq.verdict import Category, Mode, Severity, Verdict  # noqa: E402

SAFE = Verdict(severity=Severity.SAFE)
CONTROVERSIAL = Verdict(severity=Severity.CONTROVERSIAL, categories=(Category.POLITICAL,))


def measure(factory, items: int, rounds: int) -> dict:
    """Median milliseconds of each step over ``rounds`` rounds, the first left out."""
    times: dict[str, list[float]] = {"create_job": [], "commit": [], "read_back": []}
    for round_ in range(rounds + 1):
        texts = [NewItem(text=f"round {round_} text {i}") for i in range(items)]
        started = time.perf_counter()
        with session_scope(factory) as session:
            job = create_job(
                session=session,
                mode=Mode.PROMPT,
                items=texts,
                model_id="store-benchmark",
                priority=Priority.BULK,
            )
        created = time.perf_counter()
        judged = [
            Judged(
                item_id=item.id,
                job_id=job.id,
                mode=Mode.PROMPT,
                sha256=item.content_sha256,
                verdict=CONTROVERSIAL if i % 10 == 0 else SAFE,  # a tenth to review
                inferred=True,
                latency_ms=5,
            )
            for i, item in enumerate(job.items)
        ]
        committing = time.perf_counter()
        commit(judged, session_factory=factory, model_id="store-benchmark", policy=Policy())
        committed = time.perf_counter()
        with session_scope(factory) as session:
            after, read = -1, 0
            while page := list_results(
                session=session, job_id=job.id, after_index=after, limit=MAX_PAGE
            ):
                read += len(page)
                after = page[-1].index
        if read != items:
            raise RuntimeError(f"read back {read} results of {items}")
        if round_:
            times["create_job"].append(created - started)
            times["commit"].append(committed - committing)
            times["read_back"].append(time.perf_counter() - committed)
    return {step: round(statistics.median(t) * 1000, 1) for step, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="items a batch")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="the maintenance database (default %(default)s)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="the server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.items < 1 or args.rounds < 1:
        parser.error("--items and --rounds: at least 1")

    figures = {"items": args.items}
    with scratch_stores(args.postgres_url, args.redis_url) as stores:
        engine = create_db_engine(stores.database_url)
        figures["postgres"] = measure(session_factory(engine), args.items, args.rounds)
        engine.dispose()
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'store.sqlite3'}"
        upgrade_database(url)
        engine = create_db_engine(url)
        figures["sqlite"] = measure(session_factory(engine), args.items, args.rounds)
        engine.dispose()
    for backend in ("postgres", "sqlite"):
        steps = figures[backend]
        print(
            f"{backend:9} {args.items} items: create_job {steps['create_job']:7.1f} ms, "
            f"commit {steps['commit']:7.1f} ms, read back {steps['read_back']:7.1f} ms"
        )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
