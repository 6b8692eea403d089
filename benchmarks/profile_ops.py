"""Where the engine's CPU time goes, by operator: the figure behind the compute-limit gap.

    .venv/bin/python benchmarks/profile_ops.py --model .bench/qwen3-0.6b-4layer \\
        --n 64 --max-new-tokens 12 --ignore-eos

Runs ``engine.moderate`` once on the benchmark's realistic inputs under
``torch.profiler`` and prints the operators by self CPU time. The compute limit in
``throughput.py`` counts matmul FLOPs only; the rows below the matmul row are the work
it leaves out (attention, norms, RoPE, softmax, gathers).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# As in throughput.py: sleeping OpenMP waiters, so that a busy neighbour hurts less.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from torch.profiler import ProfilerActivity, profile  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from inputs import generate  # noqa: E402

from worker.engine import GuardEngine  # noqa: E402
from worker.params import EngineParams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--mode", choices=["prompt", "response"], default="prompt")
    parser.add_argument("--n", type=int, default=64, help="generated inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--ignore-eos", action="store_true")
    parser.add_argument("--rows", type=int, default=20, help="operators to print")
    args = parser.parse_args()

    params = EngineParams.from_settings(
        max_new_tokens=args.max_new_tokens, ignore_eos=args.ignore_eos
    )
    engine = GuardEngine.load(args.model, params=params)
    engine.warmup()
    inputs = generate(args.n, args.mode, seed=args.seed, tokenizer=engine.tokenizer)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = engine.moderate(inputs)
    print(result.timings)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
