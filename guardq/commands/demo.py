"""``guardq demo``: label the bundled examples (or a JSONL file) end to end and print them.

The items go through the same pipeline as ``guardq label``: jobs in the audit store,
the engine, the policy, verdicts and escalations recorded. With no broker configured
it all runs in this process on the embedded SQLite store (``guardq.sqlite3``); with
``GUARDQ_BROKER_URL`` and ``GUARDQ_DATABASE_URL`` set, the workers do the judging.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

from sqlalchemy.engine import make_url

from guardq.demo_table import print_demo_table, summary_lines
from guardq.labeling.executors import open_executors
from guardq.labeling.readers import Fields, Record
from guardq.settings import DEMO_MODEL, get_settings
from guardq.store.db import resolve_url
from guardq.store.jobs import ItemResult, NewItem
from guardq.verdict import Mode

EXAMPLES = resources.files("guardq") / "examples" / "examples.jsonl"

DEMO_WARNING = (
    "The demo model (models/demo) is NOT a safety model: it is a few-MB model trained on a "
    "synthetic set so that the real code runs anywhere. Its verdicts mean nothing. Set "
    "GUARDQ_MODEL to a Qwen3Guard-Gen checkpoint (e.g. Qwen/Qwen3Guard-Gen-0.6B or a local "
    "directory) for real moderation."
)


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help=__doc__.split(": ", 1)[1].split("\n")[0])
    demo.add_argument("--model", help="HF id or directory (default: GUARDQ_MODEL)")
    demo.add_argument(
        "--inputs",
        type=Path,
        help='JSONL with {"text": ...} or {"prompt": ..., "response": ...} per line '
        "(default: the bundled examples)",
    )
    demo.set_defaults(run=run)


def read_rows(path: Path | None) -> list[tuple[Mode, dict, NewItem]]:
    """Each row with its mode and item; a bad line raises naming its number, never its
    content. A row with ``response`` is response moderation, else prompt moderation."""
    text = path.read_text(encoding="utf-8") if path else EXAMPLES.read_text(encoding="utf-8")
    source = str(path) if path else "the bundled examples"
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object")
        mode = Mode.RESPONSE if "response" in row else Mode.PROMPT
        # The same checks as guardq label's, so the two accept the same rows.
        item = Record(where, row).item(Fields(mode))
        if isinstance(item, str):
            raise ValueError(f"{where}: {item}")
        ref = row.get("ref")
        rows.append((mode, row, replace(item, ref=None if ref is None else str(ref))))
    if not rows:
        raise ValueError(f"{source}: no rows")
    return rows


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    model = args.model or settings.model
    rows = read_rows(args.inputs)
    if Path(model).resolve() == DEMO_MODEL.resolve():
        print(f"NOTE: {DEMO_WARNING}\n", file=sys.stderr)
    executors, _ = open_executors(settings, model, [mode for mode, _, _ in rows])

    began = time.perf_counter()
    results: dict[int, ItemResult] = {}
    try:
        for mode, executor in executors.items():
            positions = [i for i, (row_mode, _, _) in enumerate(rows) if row_mode is mode]
            job_results = executor.results(executor.submit([rows[i][2] for i in positions]))
            results.update(zip(positions, job_results, strict=True))
    finally:
        for executor in executors.values():
            executor.close()  # the last one closes the engine and the store, as label's do
    seconds = time.perf_counter() - began

    ordered = [results[i] for i in range(len(rows))]
    print_demo_table([row for _, row, _ in rows], ordered, title=f"guardq demo: {model}")
    for line in summary_lines(ordered):
        print(line)
    where = "the workers" if settings.broker_url else "this process"
    print(f"judged by {where} in {seconds:.2f} s; audit store: {_display(resolve_url())}")
    return 0 if all(r.verdict is not None for r in ordered) else 1


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
