"""The embedded pipeline (``guardq label``, no broker, SQLite) against the engine alone.

    .venv/bin/python benchmarks/embedded.py --model models/demo --n 2000 [--device cpu] [--json]

Both run on the same generated texts (benchmarks/inputs.py, no two alike), each in its
own process, one after the other, so that neither takes cores from the other:

- the engine alone: ``GuardEngine.load``, ``warmup()``, then one ``moderate()`` call
  over all the texts, timed;
- ``guardq label IN -o OUT`` with no GUARDQ_BROKER_URL / GUARDQ_DATABASE_URL, in a fresh
  directory (so its own SQLite store, an empty verdict cache), timed from start to exit,
  with its peak RSS. A one-row run in another fresh directory measures what starting
  costs (imports, migrations, model load, warmup); rows/s counts the time after it.

Both read the same GUARDQ_* settings (GUARDQ_MAX_NEW_TOKENS, GUARDQ_MAX_BATCH_TOKENS,
GUARDQ_POLICY, ...) from this environment. With ``--json`` the last line is one JSON
object with all figures. benchmarks/pipeline.py and benchmarks/gpu_check.sh use it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from inputs import distinct_texts  # noqa: E402

# The stores the embedded path must not see: without them it runs in one process.
QUEUE_VARIABLES = ("GUARDQ_BROKER_URL", "GUARDQ_DATABASE_URL", "GUARDQ_RESULT_BACKEND_URL")


def child_env(device: str, dtype: str | None, *, embedded: bool) -> dict[str, str]:
    """This environment for a measured child: on ``device``, the repo importable, and
    OpenMP threads that sleep rather than spin at barriers (benchmarks/throughput.py
    says why), the same for every path measured."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["GUARDQ_DEVICE"] = device
    if dtype:
        env["GUARDQ_DTYPE"] = dtype
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if embedded:
        for name in QUEUE_VARIABLES:
            env.pop(name, None)
    return env


def write_jsonl(path: Path, texts: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for text in texts:
            out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return path


def child_json(argv: list[str], *, what: str, cwd: Path, env: dict[str, str] | None = None) -> dict:
    """The JSON object a measuring child prints last; RuntimeError naming ``what`` (with
    the end of its stderr) when it fails."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def engine_alone(model: str, inputs: Path, *, device: str, dtype: str | None) -> dict:
    """Items/s of the engine alone on the texts of ``inputs``, measured in a child process."""
    argv = [sys.executable, __file__, "--model", model, "--engine-only", str(inputs)]
    return child_json(
        argv, what="engine alone", cwd=REPO, env=child_env(device, dtype, embedded=True)
    )


def _measure_engine(model: str, inputs: Path) -> dict:
    """The child's side of ``engine_alone``: the configured device, dtype and params."""
    from guardq.inputs import coerce_inputs
    from worker.engine import GuardEngine

    rows = [json.loads(line) for line in inputs.read_text(encoding="utf-8").splitlines()]
    started = time.perf_counter()
    engine = GuardEngine.load(model)
    loaded = time.perf_counter()
    engine.warmup()
    items = coerce_inputs(rows)
    engine.moderate(items[:8])
    started_run = time.perf_counter()
    result = engine.moderate(items)
    seconds = time.perf_counter() - started_run
    t = result.timings
    return {
        "items": len(items),
        "device": str(engine.placement.device),
        "dtype": str(engine.placement.dtype).removeprefix("torch."),
        "load_s": round(loaded - started, 3),
        "seconds": round(seconds, 3),
        "items_per_s": round(len(items) / seconds, 2),
        "engine_seconds": {
            "plan": round(t.plan_s, 3),
            "prefill": round(t.prefill_s, 3),
            "decode": round(t.decode_s, 3),
            "finish": round(t.finish_s, 3),
        },
        "max_new_tokens": engine.params.max_new_tokens,
        "unparsed": sum(v.severity is None for v in result),
    }


def _tree_rss_kb(pid: int) -> int:
    """Resident KB of ``pid`` and its descendants (the engine processes), now."""
    total, pids = 0, [pid]
    while pids:
        pid = pids.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += map(int, (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
    return total


class _TreePeak(threading.Thread):
    """The highest sum of RSS over ``pid``'s process tree, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))


def _run_label(model: str, inputs: Path, workdir: Path, env: dict[str, str]) -> dict:
    """``guardq label`` on ``inputs`` in ``workdir``: seconds, peak RSS (of the process,
    and sampled over it and its engine processes), rows written."""
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "labeled.jsonl"
    argv = [sys.executable, "-m", "guardq.cli", "label", str(inputs), "-o", str(output)]
    argv += ["--model", model, "--no-progress"]
    log_path = workdir / "label.log"
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=log)
        tree = _TreePeak(process.pid)
        tree.start()
        try:
            # wait4, not wait: the peak RSS of this child alone, not of every child so far.
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        tree.done.set()
    if process.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"guardq label exited {process.returncode}:\n{tail}")
    with output.open("rb") as written:
        rows = sum(1 for _ in written)
    return {
        "seconds": seconds,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "tree_peak_rss_mb": round(max(tree.peak_kb, usage.ru_maxrss) / 1024),
        "rows": rows,
    }


def label_rows(
    model: str,
    inputs: Path,
    *,
    device: str,
    dtype: str | None,
    workdir: Path,
    workers_per_device: int = 1,
) -> dict:
    """Rows/s and peak RSS of ``guardq label`` on ``inputs``, embedded (no broker), with
    ``workers_per_device`` engine processes."""
    env = child_env(device, dtype, embedded=True)
    env["GUARDQ_WORKERS_PER_DEVICE"] = str(workers_per_device)
    first_row = inputs.read_text(encoding="utf-8").splitlines()[0]
    one = workdir / "startup" / "one.jsonl"
    one.parent.mkdir(parents=True, exist_ok=True)
    one.write_text(first_row + "\n", encoding="utf-8")
    startup = _run_label(model, one, workdir / "startup", env)["seconds"]
    run = _run_label(model, inputs, workdir / "run", env)
    expected = sum(1 for _ in inputs.open("rb"))
    if run["rows"] != expected:
        raise RuntimeError(f"guardq label wrote {run['rows']} rows of {expected}")
    return {
        "rows": run["rows"],
        "seconds": round(run["seconds"], 3),
        "startup_s": round(startup, 3),
        "rows_per_s": round(run["rows"] / max(run["seconds"] - startup, 1e-9), 2),
        "wall_rows_per_s": round(run["rows"] / run["seconds"], 2),
        "peak_rss_mb": run["peak_rss_mb"],
        "tree_peak_rss_mb": run["tree_peak_rss_mb"],
        "workers_per_device": workers_per_device,
    }


def model_path(model: str) -> str:
    """A local directory as an absolute path (the children run elsewhere), else the id."""
    return str(Path(model).resolve()) if Path(model).is_dir() else model


def load_tokenizer(model: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "demo"))
    parser.add_argument("--n", type=int, default=2000, help="texts (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--dtype", help="float32, bfloat16, float16 (default: GUARDQ_DTYPE)")
    parser.add_argument(
        "--workers-per-device",
        type=int,
        default=1,
        help="engine processes of guardq label (GUARDQ_WORKERS_PER_DEVICE, default 1)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--engine-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_only:
        print(json.dumps(_measure_engine(args.model, args.engine_only)))
        return 0

    args.model = model_path(args.model)
    texts = distinct_texts(args.n, seed=args.seed, tokenizer=load_tokenizer(args.model))
    with tempfile.TemporaryDirectory(prefix="guardq-embedded-") as scratch:
        inputs = write_jsonl(Path(scratch) / "texts.jsonl", texts)
        engine = engine_alone(args.model, inputs, device=args.device, dtype=args.dtype)
        print(
            f"engine alone   {engine['items_per_s']:9.1f} items/s  ({engine['items']} texts "
            f"in {engine['seconds']:.2f} s on {engine['device']}, {engine['dtype']})"
        )
        label = label_rows(
            args.model,
            inputs,
            device=args.device,
            dtype=args.dtype,
            workdir=Path(scratch),
            workers_per_device=args.workers_per_device,
        )
    label["ratio_to_engine"] = round(label["rows_per_s"] / engine["items_per_s"], 3)
    print(
        f"guardq label   {label['rows_per_s']:9.1f} rows/s   ({label['rows']} rows in "
        f"{label['seconds']:.2f} s, of which {label['startup_s']:.2f} s starting; "
        f"peak RSS {label['peak_rss_mb']} MB, {label['tree_peak_rss_mb']} MB with its "
        f"engine processes)"
    )
    print(f"ratio          {label['ratio_to_engine']:9.3f}x the engine alone")
    if args.json:
        figures = {"model": args.model, "n": args.n, "engine": engine, "label": label}
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
