"""``guardq beat``: Celery beat, the clock that sends guardq's periodic tasks.

Run exactly one per deployment (two would send each task twice: harmless, since the
tasks are idempotent, but wasted). Today it sends the purge of reviewed text every
GUARDQ_PURGE_INTERVAL_S; a callbacks worker (``guardq worker``) runs it. The process
becomes ``celery beat`` (exec), so signals from a container runtime reach it directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from guardq.settings import get_settings

# Beat remembers when each task last ran; losing the file only means the purge runs
# once more at start, so a temporary directory is fine and always writable.
DEFAULT_SCHEDULE = Path(tempfile.gettempdir()) / "guardq-celerybeat-schedule"


def register(commands: argparse._SubParsersAction) -> None:
    beat = commands.add_parser("beat", help=__doc__.split(": ", 1)[1].split("\n")[0])
    add_beat_options(beat)
    beat.set_defaults(run=run)


def add_beat_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schedule-file",
        type=Path,
        default=DEFAULT_SCHEDULE,
        help=f"where beat keeps its last-run times (default {DEFAULT_SCHEDULE})",
    )


def beat_command(schedule_file: Path, loglevel: str = "INFO") -> list[str]:
    """The argv of the ``celery beat`` process."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "beat",
        "--loglevel",
        loglevel,
        "--schedule",
        str(schedule_file),
    ]


def run(args: argparse.Namespace) -> int:
    if get_settings().broker_url is None:
        raise ValueError("GUARDQ_BROKER_URL is not set: beat sends its tasks through Redis")
    argv = beat_command(args.schedule_file)
    os.execv(argv[0], argv)
    return 0  # not reached: exec replaced this process
