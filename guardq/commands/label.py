"""``guardq label``: add verdict columns to every row of a JSONL, CSV or Parquet file.

Through the Celery workers when ``GUARDQ_BROKER_URL`` is set (results read back from
``GUARDQ_DATABASE_URL``, which must be the workers' store); in this process otherwise,
on the same pipeline and an embedded SQLite store. Re-running after an interruption
continues where the last run's checkpoint (``OUT.progress.json``) ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from guardq.labeling.executors import open_executors
from guardq.labeling.readers import Fields
from guardq.labeling.runner import label_file, rejects_path
from guardq.settings import DEMO_MODEL, get_settings
from guardq.verdict import Mode


def register(commands: argparse._SubParsersAction) -> None:
    label = commands.add_parser("label", help=__doc__.split(": ", 1)[1].split("\n")[0])
    label.add_argument("input", type=Path, help="a .jsonl, .csv or .parquet file")
    label.add_argument("-o", "--output", type=Path, required=True, help="same format as input")
    label.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.PROMPT.value)
    label.add_argument("--text-field", default="text", help="prompt mode's column (text)")
    label.add_argument("--prompt-field", default="prompt", help="response mode (prompt)")
    label.add_argument("--response-field", default="response", help="response mode (response)")
    label.add_argument("--model", help="HF id or directory (default: GUARDQ_MODEL)")
    label.add_argument("--no-progress", action="store_true", help="no progress bar")
    label.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    # Opened before the model loads: a path that cannot be read fails at once, with
    # the OS's reason (guardq.cli_errors prints it in one line).
    with open(args.input, "rb"):
        pass
    mode = Mode(args.mode)
    fields = Fields(mode, args.text_field, args.prompt_field, args.response_field)
    model = args.model or settings.model
    if Path(model).resolve() == DEMO_MODEL.resolve():
        print(
            "NOTE: models/demo is NOT a safety model; its verdicts mean nothing.", file=sys.stderr
        )

    def open_executor():
        executors, window = open_executors(settings, model, [mode])
        return executors[mode], window

    progress = label_file(
        args.input,
        args.output,
        fields=fields,
        model_id=model,
        open_executor=open_executor,
        show_progress=not args.no_progress,
    )
    print(
        f"{args.output}: {progress.labeled} labeled, {progress.rejected} rejected"
        + (f" (see {rejects_path(args.output)})" if progress.rejected else ""),
        file=sys.stderr,
    )
    return 1 if progress.rejected else 0
