"""One thread against all of them, per forward step, on one model (``worker/threads.py``).

    .venv/bin/python benchmarks/threads.py --model models/demo --sizes 1,16,64,256

For each batch size, runs the engine with every step on one thread, on all threads,
and with the engine's own choice, and prints the best of a few runs: the whole call,
its prefill, and the mean decode step. The adaptive row should match the better of
the other two; where it does not, the constants in ``worker/threads.py`` are off for
this machine or model.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# As benchmarks/throughput.py: sleeping OpenMP waiters, so that another busy process
# does not distort the two-thread figures.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from worker.engine import GuardEngine  # noqa: E402
from worker.params import EngineParams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "demo"))
    parser.add_argument("--sizes", default="1,16,64,256")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    engine = GuardEngine.load(
        args.model,
        device="cpu",
        params=EngineParams(ignore_eos=True, max_new_tokens=args.max_new_tokens),
    )
    engine.warmup()
    policy = engine._forward.threads
    full, adaptive = policy.full, policy._adaptive
    texts = [f"how do I bake bread, attempt {i}, with a few more words" for i in range(4096)]
    print(f"model {args.model}: {full} threads configured; adaptive: {adaptive}")
    for size in (int(s) for s in args.sizes.split(",")):
        for label, threads, adapt in (
            ("one", 1, False),
            ("all", full, False),
            ("adaptive", full, adaptive),
        ):
            policy.full, policy._adaptive = threads, adapt
            runs = [engine.moderate(texts[:size]).timings for _ in range(args.repeats)]
            best = min(runs, key=lambda t: t.total_s)
            step = best.decode_s / max(best.decode_steps, 1)
            print(
                f"n={size:5d} {label:>8}: call {best.total_s * 1000:9.1f} ms  "
                f"prefill {best.prefill_s * 1000:8.1f} ms  decode step {step * 1000:7.2f} ms",
                flush=True,
            )
    policy.full, policy._adaptive = full, adaptive
    torch.set_num_threads(full)


if __name__ == "__main__":
    main()
