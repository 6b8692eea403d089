"""The progress of one ``guardq label`` run, kept next to its output (``OUT.progress.json``).

It says how many input records are done and where the output and rejects files end,
and what produced them (the input file and the options): a resume continues only the
run that wrote OUT. Replaced atomically, after the files it describes were synced.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Progress:
    input: str
    input_size: int
    options: dict[str, Any]
    records: int = 0  # input records consumed, labeled or rejected
    out: int = 0  # the output writer's synced position
    rejects: int = 0  # the rejects file's synced size
    labeled: int = 0
    rejected: int = 0
    complete: bool = False

    def advanced(self, **changes: Any) -> Progress:
        return replace(self, **changes)


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress.json")


def load_progress(out: Path) -> Progress | None:
    path = checkpoint_path(out)
    if not path.exists():
        return None
    return Progress(**json.loads(path.read_text(encoding="utf-8")))


def save_progress(out: Path, progress: Progress) -> None:
    path = checkpoint_path(out)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(asdict(progress), handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def start_or_resume(inp: Path, out: Path, options: dict[str, Any]) -> Progress:
    """The progress to continue from, checking that it belongs to this input and options.

    Raises ValueError when OUT exists without a checkpoint (not ours to append to) or
    was written from another input or with other options.
    """
    size = inp.stat().st_size
    progress = load_progress(out)
    if progress is None:
        if out.exists():
            raise ValueError(
                f"{out} exists and has no {checkpoint_path(out).name}: it was not written "
                "by guardq label; choose another output or remove it"
            )
        return Progress(input=str(inp.resolve()), input_size=size, options=options)
    if progress.input != str(inp.resolve()) or progress.input_size != size:
        raise ValueError(
            f"{out} was written from {progress.input} ({progress.input_size} bytes), not "
            f"{inp.resolve()} ({size} bytes); remove {out} and "
            f"{checkpoint_path(out).name} to start over"
        )
    if progress.options != options:
        raise ValueError(
            f"{out} was written with options {progress.options}, not {options}; "
            f"remove {out} and {checkpoint_path(out).name} to start over"
        )
    return progress
