"""Reviewed escalations as Qwen3Guard-Gen training pairs (``guardq export-reviews``).

A pair is the conversation the model moderates (``messages``, as its chat template takes
them) and the answer it should have given (``target``), in the model's own output format:
``Safety:``, ``Categories:`` (official strings in the official order, ``None`` when
Safe) and, for response moderation, ``Refusal:``. The reviewer's decision is the label;
a response's ``Refusal:`` is the reviewer's reading when they gave one, else the model's,
and a response whose refusal both left unknown cannot make a full pair.

Under consensus review the label is the settled one (the agreeing reviewers', or the
lead's on a dispute); ``reviewers_agreed`` says how many reviewers gave it, out of
``decisions``, and ``settled_by`` whether agreement ("consensus") or a lead settled it.
"""

from __future__ import annotations

from typing import Any

from guardq.store.escalations import EscalationView
from guardq.verdict import Category, Mode, Severity, sorted_categories


def target_answer(
    decision: Severity, categories: tuple[Category, ...], mode: Mode, refusal: bool | None
) -> str:
    """The model's answer lines for this label."""
    names = ", ".join(c.value for c in sorted_categories(categories)) or "None"
    lines = [f"Safety: {decision.value}", f"Categories: {names}"]
    if mode is Mode.RESPONSE:
        lines.append(f"Refusal: {'Yes' if refusal else 'No'}")
    return "\n".join(lines)


def label_refusal(view: EscalationView) -> bool | None:
    """The ``Refusal:`` answer of the pair: the reviewer's, else the model's reading."""
    return view.decision_refusal if view.decision_refusal is not None else view.refusal


def skip_reason(view: EscalationView) -> str | None:
    """Why ``view`` cannot become a training pair, or None when it can."""
    if view.decision is None:
        return "not decided"
    if view.text is None:
        return "text not retained"
    if view.mode is Mode.RESPONSE and view.prompt is None:
        return "response without its prompt"
    if view.mode is Mode.RESPONSE and label_refusal(view) is None:
        return "response whose refusal is unknown"
    return None


def training_pair(view: EscalationView) -> dict[str, Any]:
    """One JSONL record; ``skip_reason(view)`` must be None."""
    if view.mode is Mode.PROMPT:
        messages = [{"role": "user", "content": view.text}]
    else:
        messages = [
            {"role": "user", "content": view.prompt},
            {"role": "assistant", "content": view.text},
        ]
    return {
        "messages": messages,
        "target": target_answer(
            view.decision, view.decision_categories, view.mode, label_refusal(view)
        ),
        "mode": view.mode.value,
        "escalation_id": str(view.id),
        "content_sha256": view.content_sha256,
        "decided_at": view.decided_at.isoformat() if view.decided_at else None,
        "model_severity": view.severity.value if view.severity else None,
        "reviewers_agreed": view.agreed_count,
        "decisions": view.decisions_made,
        "settled_by": "lead" if view.disputed else "consensus",
    }
