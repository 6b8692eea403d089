"""What ``guardq demo`` prints: one table row per item, then a summary of the run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from guardq.store.jobs import ItemResult

_STYLE = {"Safe": "green", "Controversial": "yellow", "Unsafe": "red"}


def print_demo_table(rows: Sequence[dict], results: Sequence[ItemResult], *, title: str) -> None:
    table = Table(title=title, show_lines=False)
    for column in ("ref", "mode", "content", "severity", "categories", "refusal", "action"):
        table.add_column(column, overflow="fold")
    for row, result in zip(rows, results, strict=True):
        verdict = result.verdict
        content = row.get("text") or row.get("response", "")
        if verdict is None:
            severity, categories, refusal, action = "failed", result.error or "", "", ""
        else:
            severity = verdict.severity.value if verdict.severity else "unparsed"
            categories = ", ".join(c.value for c in verdict.categories) or "None"
            refusal = {True: "Yes", False: "No", None: ""}[verdict.refusal]
            action = verdict.action.value
        table.add_row(
            str(row.get("ref", result.index)),
            "prompt" if "text" in row else "response",
            _clip(content, 48),
            f"[{_STYLE.get(severity, 'magenta')}]{severity}[/]",
            categories,
            refusal,
            action,
        )
    # Piped output defaults to 80 columns, too narrow for seven columns of verdicts.
    console = Console()
    console.width = max(console.width, 120)
    console.print(table)


def summary_lines(results: Sequence[ItemResult]) -> list[str]:
    """Counts by action and severity, escalations and cache hits, in plain words."""
    verdicts = [r.verdict for r in results if r.verdict is not None]
    actions = Counter(v.action.value for v in verdicts)
    severities = Counter(v.severity.value if v.severity else "unparsed" for v in verdicts)
    cached = sum(v.served_from_cache for v in verdicts)
    failed = len(results) - len(verdicts)
    return [
        f"{len(results)} items: {len(verdicts)} judged, {failed} failed, "
        f"{cached} served from the verdict cache",
        "actions: " + ", ".join(f"{actions[a]} {a}" for a in ("allow", "review", "block")),
        "severity: "
        + ", ".join(
            f"{severities[s]} {s}" for s in ("Safe", "Controversial", "Unsafe", "unparsed")
        ),
        f"escalated to reviewers: {actions['review']}",
    ]


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
