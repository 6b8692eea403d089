"""``guardq demo``: moderate the bundled examples (or a JSONL file) and print a table."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from guardq.demo_table import print_demo_table
from guardq.settings import DEMO_MODEL, get_settings

EXAMPLES = resources.files("guardq") / "examples" / "examples.jsonl"

DEMO_WARNING = (
    "The demo model (models/demo) is NOT a safety model: it is a few-MB model trained on a "
    "synthetic set so that the real code runs anywhere. Its verdicts mean nothing. Set "
    "GUARDQ_MODEL to a Qwen3Guard-Gen checkpoint (e.g. Qwen/Qwen3Guard-Gen-0.6B or a local "
    "directory) for real moderation."
)


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help=__doc__.split(": ", 1)[1])
    demo.add_argument("--model", help="HF id or directory (default: GUARDQ_MODEL)")
    demo.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: GUARDQ_DEVICE)")
    demo.add_argument(
        "--inputs",
        type=Path,
        help='JSONL with {"text": ...} or {"prompt": ..., "response": ...} per line',
    )
    demo.set_defaults(run=run)


def read_rows(path: Path | None) -> list[dict]:
    text = path.read_text(encoding="utf-8") if path else EXAMPLES.read_text(encoding="utf-8")
    source = str(path) if path else "the bundled examples"
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}, line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{source}, line {number}: expected a JSON object")
        rows.append(row)
    if not rows:
        raise ValueError(f"{source}: no rows")
    return rows


def run(args: argparse.Namespace) -> int:
    from worker.engine import GuardEngine

    settings = get_settings()
    model = args.model or settings.model
    rows = read_rows(args.inputs)
    inputs = [{k: row[k] for k in ("text", "prompt", "response") if k in row} for row in rows]
    if Path(model).resolve() == DEMO_MODEL.resolve():
        print(f"NOTE: {DEMO_WARNING}\n", file=sys.stderr)
    engine = GuardEngine.load(model, device=args.device)
    verdicts = engine.moderate(inputs)
    print_demo_table(rows, verdicts, settings.policy, title=f"guardq demo: {model}")
    timings = verdicts.timings
    print(
        f"{timings.items} items ({timings.units} windows) in {timings.total_s:.2f} s "
        f"on {engine.placement.device}: {timings.items_per_s:.1f} items/s"
    )
    return 0
