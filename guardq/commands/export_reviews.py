"""``guardq export-reviews``: decided items whose text is retained, as training pairs.

Writes JSONL, one Qwen3Guard-Gen training pair per line (``messages`` plus the expected
``target`` answer; see ``guardq.review_export``). The file appears complete or not at
all (written aside, then renamed). Progress and the summary go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from guardq.review_export import skip_reason, training_pair
from guardq.store.db import get_session_factory, session_scope
from guardq.store.enums import EscalationStatus
from guardq.store.reviews import list_reviews

PAGE = 500


def register(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export-reviews", help=__doc__.split(": ", 1)[1].split("\n")[0])
    export.add_argument(
        "-o", "--output", required=True, type=Path, help="the JSONL file to write (replaced)"
    )
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    output: Path = args.output
    if output.is_dir():
        raise ValueError(f"-o: {output} is a directory; give a file name")
    if not output.parent.is_dir():
        raise ValueError(f"-o: directory {output.parent} does not exist")
    partial = output.with_name(output.name + ".partial")
    written, skipped = 0, Counter()
    factory = get_session_factory()
    try:
        with (
            partial.open("w", encoding="utf-8") as out,
            tqdm(unit=" items", desc="export", file=sys.stderr, disable=None) as progress,
        ):
            after = None
            while True:
                # One short transaction per page: a long export holds no connection.
                with session_scope(factory) as session:
                    page = list_reviews(
                        session=session,
                        status=EscalationStatus.RESOLVED,
                        text_retained=True,
                        limit=PAGE,
                        after=after,
                    )
                for view in page:
                    reason = skip_reason(view)
                    if reason:
                        skipped[reason] += 1
                        continue
                    out.write(json.dumps(training_pair(view), ensure_ascii=False) + "\n")
                    written += 1
                progress.update(len(page))
                if len(page) < PAGE:
                    break
                after = page[-1].id
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)

    summary = f"wrote {written} training pair(s) to {output}"
    if skipped:
        summary += "; skipped " + ", ".join(f"{n} ({why})" for why, n in skipped.items())
    if not written:
        summary += " (no decided item with retained text)"
    print(summary, file=sys.stderr)
    return 0
