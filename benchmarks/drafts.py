"""Drafted decoding on realtime-sized calls (``worker/drafts.py``): forward passes per
answer and latency, one text at a time and in calls of a few.

    .venv/bin/python benchmarks/drafts.py --model models/demo --n 300

The engine first judges ``--warm`` texts one at a time (the drafts learn from the
answers, as a worker's do from the traffic it has seen), then ``--n`` new texts one at
a time, then ``--n`` more in calls of ``--call`` texts, all distinct
(``benchmarks/inputs.py``). Prints the decode steps per call, the p50 and mean of a
single text's call, and rows/s in the small calls; ``--no-drafts`` gives the same
without drafts. Run it in two checkouts to compare two ways of drafting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

# As benchmarks/throughput.py: sleeping OpenMP waiters.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from inputs import distinct_texts  # noqa: E402

from worker.engine import GuardEngine  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "demo"))
    parser.add_argument("--n", type=int, default=300, help="texts per measurement")
    parser.add_argument("--warm", type=int, default=100, help="texts judged first")
    parser.add_argument("--call", type=int, default=8, help="texts per small call")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a worker's)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--no-drafts", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    engine = GuardEngine.load(args.model, device="cpu")
    if args.no_drafts:
        engine.params = replace(engine.params, drafts=False)
    engine.warmup()
    texts = distinct_texts(args.warm + 2 * args.n, seed=args.seed, tokenizer=engine.tokenizer)
    warm, single, small = (
        texts[: args.warm],
        texts[args.warm : args.warm + args.n],
        texts[args.warm + args.n :],
    )
    for text in warm:
        engine.moderate([text])

    seconds, steps = [], []
    for text in single:
        started = time.perf_counter()
        result = engine.moderate([text])
        seconds.append(time.perf_counter() - started)
        steps.append(result.timings.decode_steps)
    call_steps = []
    started = time.perf_counter()
    for first in range(0, len(small), args.call):
        result = engine.moderate(small[first : first + args.call])
        call_steps.append(result.timings.decode_steps)
    small_s = time.perf_counter() - started

    figures = {
        "model": args.model,
        "drafts": not args.no_drafts,
        "threads": args.threads,
        "single_steps_mean": round(statistics.mean(steps), 2),
        "single_p50_ms": round(statistics.median(seconds) * 1000, 1),
        "single_mean_ms": round(statistics.mean(seconds) * 1000, 1),
        "call": args.call,
        "call_steps_mean": round(statistics.mean(call_steps), 2),
        "call_rows_per_s": round(len(small) / small_s, 1),
    }
    print(
        f"one text at a time: {figures['single_steps_mean']} decode steps, "
        f"p50 {figures['single_p50_ms']} ms, mean {figures['single_mean_ms']} ms"
    )
    print(
        f"calls of {args.call}: {figures['call_steps_mean']} decode steps, "
        f"{figures['call_rows_per_s']} rows/s"
    )
    if args.json:
        print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
