"""The verdict columns ``guardq label`` adds to each row.

Prefixed ``guard_`` so that they never overwrite a column of the input (a dataset may
well have its own ``severity`` or ``action``). Categories are one comma-separated
string, as the model writes them, so that every format holds them alike.
"""

from __future__ import annotations

from typing import Any

from guardq.store.verdicts import StoredVerdict

# name -> pyarrow type name, in output order.
VERDICT_COLUMNS: dict[str, str] = {
    "guard_severity": "string",
    "guard_categories": "string",
    "guard_refusal": "bool",
    "guard_action": "string",
    "guard_reason": "string",
    "guard_content_sha256": "string",
    "guard_p_safe": "float64",
    "guard_p_controversial": "float64",
    "guard_p_unsafe": "float64",
    "guard_chunk_count": "int64",
    "guard_span_start": "int64",
    "guard_span_end": "int64",
    "guard_model": "string",
    "guard_error": "string",
}


def verdict_columns(content_sha256: str, verdict: StoredVerdict) -> dict[str, Any]:
    """The verdict columns of one labeled row."""
    scores, span = verdict.scores, verdict.span
    return {
        "guard_severity": verdict.severity.value if verdict.severity else None,
        "guard_categories": ", ".join(category.value for category in verdict.categories),
        "guard_refusal": verdict.refusal,
        "guard_action": verdict.action.value,
        "guard_reason": verdict.reason,
        "guard_content_sha256": content_sha256,
        "guard_p_safe": scores.safe if scores else None,
        "guard_p_controversial": scores.controversial if scores else None,
        "guard_p_unsafe": scores.unsafe if scores else None,
        "guard_chunk_count": verdict.chunk_count,
        "guard_span_start": span.start if span else None,
        "guard_span_end": span.end if span else None,
        "guard_model": verdict.model_id,
        "guard_error": verdict.error,
    }
