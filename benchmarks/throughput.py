"""Throughput of the engine against the model card's one-item loop, on the same inputs.

    .venv/bin/python benchmarks/throughput.py --model .bench/qwen3-0.6b-4layer \\
        --mode prompt --max-new-tokens 12 --ignore-eos --json

Prints items/s of both paths, their verdict agreement, and the compute limit: the
FLOPs the engine cannot avoid (each unit's own tokens after the shared header, the
footer, the decode steps; the vocabulary projection only where a token is chosen),
divided by the best matmul FLOP/s this machine reaches, measured in the same run.
With ``--json`` the last line is one JSON object with all figures.

``--device cuda --dtype bfloat16`` runs both paths on a GPU (benchmarks/gpu_check.sh);
the matmul peak is then measured there, in that dtype.

``--ignore-eos`` makes both paths write exactly ``--max-new-tokens`` tokens (as vLLM's
benchmarks do): random-weight models (benchmarks/make_model.py) rarely emit an end
token, and their verdicts are noise, so their parity only shows both paths agree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Before torch loads OpenMP: on a CPU shared with other work, threads that spin at
# barriers steal the cores the working threads need (decode steps ran 4x slower here
# with another process busy); waiters that sleep do not. Both paths run under it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from inputs import generate  # noqa: E402

from guardq.inputs import coerce_inputs  # noqa: E402
from worker.engine import GuardEngine  # noqa: E402
from worker.linears import can_pack  # noqa: E402
from worker.params import EngineParams  # noqa: E402
from worker.reference import reference_moderate_chunked  # noqa: E402

MATMUL_SHAPES = ((2048, 1024, 3072), (512, 1024, 3072), (256, 3072, 1024), (64, 1024, 32768))


def peak_matmul_flops(
    seconds: float = 2.0, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> float:
    """The best FLOP/s of matmuls of the model's kind of shapes on ``device`` in
    ``dtype``: on the CPU with plain ``F.linear`` and with the pre-packed oneDNN kernel
    the engine uses, so that the engine is measured against the fastest matmul the
    machine offers; on a GPU, with rows scaled up (it needs more work per launch)."""
    device = device or torch.device("cpu")
    kernels = [lambda a, w: lambda: torch.nn.functional.linear(a, w)]
    if can_pack(device, dtype):

        def packed(a, w):
            weight = torch.ops.mkldnn._reorder_linear_weight(w, 64)
            return lambda: torch.ops.mkldnn._linear_pointwise(a, weight, None, "none", [], "")

        kernels.append(packed)
    rows = 8 if device.type == "cuda" else 1

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    best = 0.0
    for m, k, n in MATMUL_SHAPES:
        m *= rows
        a = torch.randn(m, k, device=device, dtype=dtype)
        w = torch.randn(n, k, device=device, dtype=dtype)
        for kernel in kernels:
            run = kernel(a, w)
            run()
            sync()
            reps, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / len(MATMUL_SHAPES) / len(kernels):
                for _ in range(rows):
                    run()
                reps += rows
                sync()
            best = max(best, 2 * m * k * n * reps / (time.perf_counter() - started))
    return best


def unit_flops(config, own: int, context_before: int, generated: int) -> tuple[float, float]:
    """FLOPs a unit cannot avoid, as (prefill, decode): ``own`` prompt tokens after
    ``context_before`` cached ones and the first token's logits; then ``generated - 1``
    decode steps (the last token is never fed back), each with its logits."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    per_token = (
        2
        * layers
        * (
            hidden * heads * head_dim * 2  # q and o
            + hidden * kv_heads * head_dim * 2  # k and v
            + hidden * config.intermediate_size * 3  # gate, up, down
        )
    )
    vocab = 2 * hidden * config.vocab_size

    def attention(first: int, count: int) -> float:
        # Scores and weighted values: 2 matmuls of 2 FLOPs per key, head and dimension.
        keys = sum(context_before + i + 1 for i in range(first, first + count))
        return layers * 4 * heads * head_dim * keys

    steps = max(0, generated - 1)
    prefill = per_token * own + attention(0, own) + vocab
    decode = (per_token + vocab) * steps + attention(own, steps)
    return prefill, decode


def load_inputs(args, tokenizer) -> list[dict]:
    if args.inputs:
        rows = [json.loads(line) for line in args.inputs.read_text().splitlines() if line.strip()]
        return [{k: row[k] for k in ("text", "prompt", "response") if k in row} for row in rows]
    return generate(args.n, args.mode, seed=args.seed, tokenizer=tokenizer)


def verdict_key(verdict) -> tuple:
    return (verdict.severity, verdict.categories, verdict.refusal)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / ".bench" / "qwen3-0.6b-4layer"))
    parser.add_argument("--inputs", type=Path, help="JSONL: text, or prompt + response")
    parser.add_argument("--mode", choices=("prompt", "response"), default="prompt")
    parser.add_argument("--n", type=int, default=48, help="generated inputs when no --inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--ignore-eos", action="store_true")
    parser.add_argument("--max-batch-tokens", type=int, default=8192)
    parser.add_argument("--chunk-tokens", type=int, default=2048)
    parser.add_argument("--chunk-overlap", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="engine runs; the best counts")
    parser.add_argument(
        "--reference-items", type=int, help="time the reference on the first N items only"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="auto: bf16 on a GPU, fp32 on the CPU (default auto)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    params = EngineParams(
        max_batch_tokens=args.max_batch_tokens,
        chunk_tokens=args.chunk_tokens,
        chunk_overlap=args.chunk_overlap,
        max_new_tokens=args.max_new_tokens,
        ignore_eos=args.ignore_eos,
    )
    engine = GuardEngine.load(args.model, device=args.device, dtype=args.dtype, params=params)
    tokenizer, model = engine.tokenizer, engine.model
    device, dtype = engine.placement.device, engine.placement.dtype
    rows = load_inputs(args, tokenizer)
    items = coerce_inputs(rows)
    load_before = round(os.getloadavg()[0], 2)
    peak_before = peak_matmul_flops(device=device, dtype=dtype)

    engine.warmup()
    engine.moderate(items[: min(8, len(items))])
    runs = []
    for _ in range(max(1, args.repeats)):
        result = engine.moderate(items)
        runs.append(result)
    best = min(runs, key=lambda run: run.timings.total_s)
    engine_s = best.timings.total_s

    checked = items[: args.reference_items] if args.reference_items else items
    started = time.perf_counter()
    reference = [
        reference_moderate_chunked(
            model,
            tokenizer,
            item,
            chunk_tokens=args.chunk_tokens,
            chunk_overlap=args.chunk_overlap,
            max_new_tokens=args.max_new_tokens,
            ignore_eos=args.ignore_eos,
        )
        for item in checked
    ]
    reference_s = time.perf_counter() - started
    reference_items_per_s = len(checked) / reference_s
    peak = max(peak_before, peak_matmul_flops(device=device, dtype=dtype))

    agree = sum(verdict_key(a) == verdict_key(b) for a, b in zip(best, reference, strict=False))
    planned = engine.plan(items)
    generated = round(best.timings.generated_tokens / len(planned))
    needed_prefill = needed_decode = 0.0
    for unit in planned:
        cached = len(unit.prefix) if unit.prefix else 0
        prefill, decode = unit_flops(model.config, len(unit.own_ids), cached, generated)
        needed_prefill += prefill
        needed_decode += decode
    needed = needed_prefill + needed_decode
    limit_items_per_s = len(items) / (needed / peak)
    engine_items_per_s = len(items) / engine_s
    t = best.timings
    figures = {
        "model": args.model,
        "mode": args.mode,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "items": len(items),
        "units": len(planned),
        "max_new_tokens": args.max_new_tokens,
        "ignore_eos": args.ignore_eos,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_avg_1m": [load_before, round(os.getloadavg()[0], 2)],
        "engine_items_per_s": round(engine_items_per_s, 3),
        "reference_items_per_s": round(reference_items_per_s, 3),
        "reference_items": len(checked),
        "speedup": round(engine_items_per_s / reference_items_per_s, 2),
        "parity": {"agree": agree, "total": len(checked)},
        "peak_matmul_gflops": round(peak / 1e9, 1),
        "needed_gflop": round(needed / 1e9, 1),
        "engine_gflops": round(needed / engine_s / 1e9, 1),
        "prefill_gflops": round(needed_prefill / t.prefill_s / 1e9, 1),
        "decode_gflops": round(needed_decode / max(t.decode_s, 1e-9) / 1e9, 1),
        "compute_limit_items_per_s": round(limit_items_per_s, 3),
        "compute_efficiency": round(engine_items_per_s / limit_items_per_s, 3),
        "engine_seconds": {
            "total": round(t.total_s, 3),
            "plan": round(t.plan_s, 3),
            "prefill": round(t.prefill_s, 3),
            "decode": round(t.decode_s, 3),
            "finish": round(t.finish_s, 3),
        },
        "engine_batches": t.batches,
        "engine_own_tokens": t.own_tokens,
        "engine_cached_tokens": t.cached_tokens,
        "reference_seconds": round(reference_s, 3),
    }
    print(
        f"model {args.model} on {device} ({figures['dtype']}): {len(items)} {args.mode} items, "
        f"{len(planned)} units"
    )
    print(
        f"engine    {engine_items_per_s:8.2f} items/s  ({engine_s:.2f} s: plan {t.plan_s:.2f}, "
        f"prefill {t.prefill_s:.2f}, decode {t.decode_s:.2f}, {t.batches} batches)"
    )
    print(
        f"reference {reference_items_per_s:8.2f} items/s  ({reference_s:.2f} s for "
        f"{len(checked)} items)"
    )
    print(
        f"speedup   {engine_items_per_s / reference_items_per_s:8.2f}x   "
        f"parity {agree}/{len(checked)}"
    )
    print(
        f"phases    prefill {needed_prefill / 1e9:.0f} GFLOP at "
        f"{needed_prefill / t.prefill_s / 1e9:.1f} GFLOP/s, decode {needed_decode / 1e9:.0f} "
        f"GFLOP at {needed_decode / max(t.decode_s, 1e-9) / 1e9:.1f} GFLOP/s"
    )
    print(
        f"compute   {needed / 1e9:.1f} GFLOP needed; matmul peak {peak / 1e9:.1f} GFLOP/s -> "
        f"limit {limit_items_per_s:.2f} items/s; engine at "
        f"{100 * engine_items_per_s / limit_items_per_s:.0f}% of it"
    )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
