"""The table ``guardq demo`` prints: one row per item, its verdict and the action."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from guardq.policy import Policy
from guardq.verdict import Verdict

_STYLE = {"Safe": "green", "Controversial": "yellow", "Unsafe": "red"}


def print_demo_table(
    rows: Sequence[dict], verdicts: Sequence[Verdict], policy: Policy, *, title: str
) -> None:
    table = Table(title=title, show_lines=False)
    for column in ("ref", "mode", "content", "severity", "categories", "refusal", "action"):
        table.add_column(column, overflow="fold")
    for index, (row, verdict) in enumerate(zip(rows, verdicts, strict=True)):
        content = row.get("text") or row.get("response", "")
        severity = verdict.severity.value if verdict.severity else "unparsed"
        refusal = {True: "Yes", False: "No", None: ""}[verdict.refusal]
        table.add_row(
            str(row.get("ref", index)),
            "prompt" if "text" in row else "response",
            _clip(content, 48),
            f"[{_STYLE.get(severity, 'magenta')}]{severity}[/]",
            ", ".join(c.value for c in verdict.categories) or "None",
            refusal,
            policy.decide(verdict).action.value,
        )
    Console().print(table)


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
