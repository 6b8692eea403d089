"""Two builds of guardq side by side: ``benchmarks/pipeline.py`` from each checkout in turn.

    git worktree add ../guardq-before HEAD~3
    .venv/bin/python benchmarks/alternate.py --rounds 3 ../guardq-before . -- \\
        --model models/demo --n 1000 --concurrency 16 --skip-label --skip-bulk \\
        --skip-cached --skip-engine

A shared machine's speed drifts by tens of percent from one minute to the next, more
than most changes are worth, so one run of each build says little. Here the builds run
in turn (A, B, A, B, ...), each with this interpreter (the same packages) and its own
tree's code (``benchmarks/pipeline.py`` puts its tree first on the path of everything
it starts); each run's figures are printed as it ends, then each build's median and how
many of the rounds it won.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from embedded import child_json

# (label, path into the JSON figures, whether bigger is better)
FIGURES = [
    ("engine items/s", ("engine", "items_per_s"), True),
    ("label rows/s", ("label", "rows_per_s"), True),
    ("label / engine", ("label", "ratio_to_engine"), True),
    ("label RSS MB", ("label", "peak_rss_mb"), False),
    ("bulk items/s", ("bulk", "items_per_s"), True),
    ("bulk / engine", ("bulk", "ratio_to_engine"), True),
    ("replay items/s", ("replay", "items_per_s"), True),
]
for level in ("1", "16"):
    FIGURES += [
        (f"c={level} req/s", ("realtime", level, "req_per_s"), True),
        (f"c={level} p50 ms", ("realtime", level, "p50_ms"), False),
        (f"c={level} p99 ms", ("realtime", level, "p99_ms"), False),
    ]


def figure(figures: dict, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(figures, dict) or key not in figures:
            return None
        figures = figures[key]
    return figures if isinstance(figures, int | float) else None


def run_once(tree: Path, pipeline_args: list[str]) -> dict:
    script = tree / "benchmarks" / "pipeline.py"
    if not script.is_file():
        raise SystemExit(f"alternate: {tree} has no benchmarks/pipeline.py")
    argv = [sys.executable, str(script), *pipeline_args, "--json"]
    return child_json(argv, what=f"pipeline.py in {tree}", cwd=tree)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path, help="checkout A")
    parser.add_argument("after", type=Path, help="checkout B")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv[:split])
    pipeline_args = argv[split + 1 :]
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    trees = {"A": args.before.resolve(), "B": args.after.resolve()}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for round_ in range(1, args.rounds + 1):
        for name, tree in trees.items():
            figures = run_once(tree, pipeline_args)
            runs[name].append(figures)
            shown = [
                f"{label} {value:g}"
                for label, path, _ in FIGURES
                if (value := figure(figures, path)) is not None
            ]
            print(f"round {round_} {name} ({tree.name}): " + ", ".join(shown), flush=True)
    print(f"median of {args.rounds} rounds, and rounds won (A: {trees['A']}, B: {trees['B']}):")
    for label, path, bigger in FIGURES:
        a = [figure(f, path) for f in runs["A"]]
        b = [figure(f, path) for f in runs["B"]]
        if None in a or None in b:
            continue
        won = sum((y > x) if bigger else (y < x) for x, y in zip(a, b, strict=True))
        print(
            f"  {label:16s} A {statistics.median(a):9.4g}  B {statistics.median(b):9.4g}"
            f"  B better in {won} of {args.rounds}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
