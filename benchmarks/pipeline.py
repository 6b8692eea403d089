"""The whole system against the engine alone, on the same texts, in one run.

    .venv/bin/python benchmarks/pipeline.py --model models/demo --n 1000 \\
        [--concurrency 1,16] [--vllm-url http://127.0.0.1:8100] [--json]

Needs Postgres and Redis (``--postgres-url``, ``--redis-url``). Measures, in order:

1. engine alone: ``GuardEngine.load``, warmup, one ``moderate()`` over the N texts, in
   a child process before anything else runs (benchmarks/embedded.py);
2. embedded label: ``guardq label`` on ``--label-n`` rows (default N) with no broker,
   on its own SQLite store: rows/s after start-up, peak RSS, ratio to the engine;
3. then on a scratch Postgres database and Redis database (benchmarks/services.py)
   it starts ``guardq worker`` and ``guardq api``, and measures through the API:
   bulk (the N texts as bulk jobs, first submit to every job done, ratio to the
   engine); cache-hit replay (the same N texts again); realtime (``POST
   /v1/moderations``, one text a request, at each ``--concurrency``, on texts not seen
   before, after a short warm-up; then the same texts again, all cached);
4. with ``--vllm-url``: the same texts against an OpenAI-compatible ``vllm serve``
   (chat completions, greedy, ``max_tokens`` = GUARDQ_MAX_NEW_TOKENS): bulk with 128
   concurrent requests, and realtime at each concurrency.

Every text is distinct (a repeat would be a cache hit). The worker, the API, the
engine and the label run read the same GUARDQ_* settings from this environment; for a
random-weight model (benchmarks/make_model.py) set GUARDQ_POLICY='{"unparsed": "block"}'
so that its unparsable answers are not all escalated to review. The scratch
databases are dropped and the processes stopped at the end, on Ctrl-C and on errors.
With ``--json`` the last line is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from embedded import (  # noqa: E402
    child_env,
    engine_alone,
    label_rows,
    load_tokenizer,
    model_path,
    write_jsonl,
)
from inputs import distinct_texts  # noqa: E402
from load import (  # noqa: E402
    bulk_jobs,
    cached_texts,
    guardq_moderation,
    run_drive,
    vllm_chat,
    vllm_models,
)
from services import scratch_stores, service_env, start_api, start_worker  # noqa: E402

from guardq.settings import get_settings  # noqa: E402

VLLM_BULK_CONCURRENCY = 128


def realtime_plan(levels: list[int], requests: int | None) -> list[tuple[int, int, int]]:
    """(concurrency, warm-up requests, timed requests) per level."""
    return [(c, max(8, 2 * c), requests or max(200, 20 * c)) for c in levels]


def measure_guardq(args, stores, texts, fresh, log_dir: Path, figures: dict) -> None:
    """Bulk, replay and realtime through a worker and the API on ``stores``."""
    env = child_env(args.device, args.dtype, embedded=False)
    env = service_env(stores, args.model, args.device, env)
    with ExitStack() as running:
        worker = start_worker(env, args.device, log_dir, args.workers_per_device)
        running.callback(worker.stop)
        api, url = start_api(env, log_dir)
        running.callback(api.stop)
        max_items = get_settings().max_items_per_request
        engine = figures.get("engine", {}).get("items_per_s")
        if not args.skip_bulk:
            bulk = bulk_jobs(url, stores.producer_key, texts, max_items)
            if engine:
                bulk["ratio_to_engine"] = round(bulk["items_per_s"] / engine, 3)
            hits = cached_texts(url, stores.producer_key, bulk.pop("job_ids"), texts)
            figures["bulk"] = bulk
            report("bulk", f"{bulk['items_per_s']:9.1f} items/s", bulk, engine)
            replay = bulk_jobs(url, stores.producer_key, hits, max_items)
            replay.pop("job_ids")
            figures["replay"] = replay
            report("cache-hit replay", f"{replay['items_per_s']:9.1f} items/s", replay)
        if args.skip_realtime:
            return
        send = guardq_moderation(stores.producer_key)
        realtime, cached = {}, {}
        for concurrency, warm, timed in fresh:
            run_drive(url, send, warm, concurrency)
            realtime[str(concurrency)] = latency = run_drive(url, send, timed, concurrency)
            report(f"realtime c={concurrency}", latency_line(latency), latency)
            if not args.skip_cached:
                # Texts whose verdict parsed in the bulk run: each one a cache hit.
                known = hits[: len(timed)] if not args.skip_bulk else timed
                cached[str(concurrency)] = again = run_drive(url, send, known, concurrency)
                report(f"  cached c={concurrency}", latency_line(again), again)
        figures["realtime"] = realtime
        if cached:
            figures["realtime_cached"] = cached


def measure_vllm(args, texts, fresh, figures: dict) -> None:
    models = vllm_models(args.vllm_url)
    served = args.vllm_model or models[0]
    send = vllm_chat(served, get_settings().max_new_tokens)
    figures["vllm"] = vllm = {"url": args.vllm_url, "model": served}
    run_drive(args.vllm_url, send, [text + " (warm-up)" for text in texts[:16]], 16)
    bulk = run_drive(args.vllm_url, send, texts, VLLM_BULK_CONCURRENCY)
    bulk["items"], bulk["items_per_s"] = len(texts), bulk.pop("req_per_s")
    engine = figures.get("engine", {}).get("items_per_s")
    if engine:
        bulk["ratio_to_engine"] = round(bulk["items_per_s"] / engine, 3)
    vllm["bulk"] = bulk
    report("vllm bulk", f"{bulk['items_per_s']:9.1f} items/s", bulk, engine)
    if args.skip_realtime:
        return
    vllm["realtime"] = {}
    for concurrency, warm, timed in fresh:
        run_drive(args.vllm_url, send, warm, concurrency)
        vllm["realtime"][str(concurrency)] = latency = run_drive(
            args.vllm_url, send, timed, concurrency
        )
        report(f"vllm realtime c={concurrency}", latency_line(latency), latency)


def latency_line(figures: dict) -> str:
    if "p50_ms" not in figures:
        return f"{figures['req_per_s']:9.1f} req/s"
    return (
        f"{figures['req_per_s']:9.1f} req/s    p50 {figures['p50_ms']:.0f} ms, "
        f"p95 {figures['p95_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms"
    )


def report(what: str, rate: str, figures: dict, engine: float | None = None) -> None:
    notes = []
    if "items" in figures or "rows" in figures:
        notes.append(f"{figures.get('items', figures.get('rows'))} in {figures['seconds']:.2f} s")
    if engine and "ratio_to_engine" in figures:
        notes.append(f"{figures['ratio_to_engine']:.2f}x the engine")
    if figures.get("errors") or figures.get("failed_items"):
        notes.append(f"ERRORS {figures.get('errors') or figures.get('failed_items')}")
    print(f"{what:<22}{rate}" + (f"  ({'; '.join(notes)})" if notes else ""), flush=True)


def parse_levels(value: str) -> list[int]:
    try:
        levels = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,16, got {value!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {value!r}")
    return levels


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "demo"))
    parser.add_argument("--n", type=int, default=1000, help="texts (default %(default)s)")
    parser.add_argument("--concurrency", type=parse_levels, default=[1, 16], help="1,16")
    parser.add_argument(
        "--realtime-requests", type=int, help="timed requests per level (default max(200, 20c))"
    )
    parser.add_argument("--label-n", type=int, help="rows for guardq label (default --n)")
    parser.add_argument("--vllm-url", help="an OpenAI-compatible server, e.g. vllm serve")
    parser.add_argument("--vllm-model", help="its model name (default: the first it serves)")
    parser.add_argument("--device", default="cpu", help="engine and worker (default cpu)")
    parser.add_argument(
        "--workers-per-device",
        type=int,
        default=1,
        help="guardq worker --per-device, and guardq label's engine processes "
        "(GUARDQ_WORKERS_PER_DEVICE; default %(default)s)",
    )
    parser.add_argument("--dtype", help="float32, bfloat16, float16 (default: GUARDQ_DTYPE)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="the maintenance database, through which a scratch one is made",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="the server")
    for part in ("engine", "label", "bulk", "realtime", "cached", "guardq"):
        parser.add_argument(f"--skip-{part}", action="store_true")
    parser.add_argument(
        "--log-dir", type=Path, help="keep the worker's and the API's logs here (default: not)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.model = model_path(args.model)
    args.vllm_url = args.vllm_url.rstrip("/") if args.vllm_url else None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the scratch stores and processes are cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        figures = run(args)
    except KeyboardInterrupt:
        print("interrupted: processes stopped, scratch stores dropped", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(figures))
    return 0


def run(args: argparse.Namespace) -> dict:
    tokenizer = load_tokenizer(args.model)
    taken: set[str] = set()
    texts = distinct_texts(args.n, seed=args.seed, tokenizer=tokenizer, taken=taken)
    plan = realtime_plan(args.concurrency, args.realtime_requests)
    fresh = []
    for level, (concurrency, warm, timed) in enumerate(plan):
        seed = args.seed + 1 + level
        batch = distinct_texts(warm + timed, seed=seed, tokenizer=tokenizer, taken=taken)
        fresh.append((concurrency, batch[:warm], batch[warm:]))
    figures: dict = {
        "model": args.model,
        "device": args.device,
        "n": args.n,
        "cpus": os.cpu_count(),
        "workers_per_device": args.workers_per_device,
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
    }
    print(
        f"model {args.model} on {args.device}: {args.n} distinct texts, "
        f"{args.workers_per_device} worker/engine process(es) per device",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="guardq-pipeline-") as scratch:
        scratch = Path(scratch)
        inputs = write_jsonl(scratch / "texts.jsonl", texts)
        if not args.skip_engine:
            figures["engine"] = engine = engine_alone(
                args.model, inputs, device=args.device, dtype=args.dtype
            )
            report("engine alone", f"{engine['items_per_s']:9.1f} items/s", engine)
        if not args.skip_label:
            label_inputs = inputs
            if args.label_n and args.label_n != args.n:
                rows = distinct_texts(args.label_n, seed=args.seed, tokenizer=tokenizer)
                label_inputs = write_jsonl(scratch / "label.jsonl", rows)
            label = label_rows(
                args.model,
                label_inputs,
                device=args.device,
                dtype=args.dtype,
                workdir=scratch,
                workers_per_device=args.workers_per_device,
            )
            if "engine" in figures:
                label["ratio_to_engine"] = round(
                    label["rows_per_s"] / figures["engine"]["items_per_s"], 3
                )
            figures["label"] = label
            rate = f"{label['rows_per_s']:9.1f} rows/s "
            report("embedded label", rate, label, figures.get("engine", {}).get("items_per_s"))
            print(
                f"{'':<22}peak RSS {label['peak_rss_mb']} MB ({label['tree_peak_rss_mb']} MB "
                f"with its engine processes), start-up {label['startup_s']} s"
            )
        if not args.skip_guardq:
            with scratch_stores(args.postgres_url, args.redis_url) as stores:
                log_dir = args.log_dir or scratch
                log_dir.mkdir(parents=True, exist_ok=True)
                measure_guardq(args, stores, texts, fresh, log_dir, figures)
        if args.vllm_url:
            measure_vllm(args, texts, fresh, figures)
    figures["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return figures


if __name__ == "__main__":
    sys.exit(main())
