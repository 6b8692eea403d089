"""guardq verdicts in the shape of OpenAI's moderation results.

``categories`` and ``category_scores`` are keyed by guardq's own category names (the
official Qwen3Guard strings), all nine always present. The nearest OpenAI categories, for
callers that translate:

==============================  ==========================================
guardq category                 nearest OpenAI moderation category
==============================  ==========================================
Violent                         violence
Non-violent Illegal Acts        illicit
Sexual Content or Sexual Acts   sexual
Suicide & Self-Harm             self-harm
PII                             (none)
Unethical Acts                  (none; harassment / hate are closest)
Politically Sensitive Topics    (none)
Copyright Violation             (none)
Jailbreak                       (none; prompt moderation only)
==============================  ==========================================

``flagged`` is the deployment's policy, not the raw severity: true when the action is
``block`` or ``review`` (so Controversial follows GUARDQ_POLICY, and an output that did
not parse is flagged: guardq fails closed). A category the verdict names scores
``1 - P(Safe)``, the probability the model gave to Controversial or Unsafe at its
severity token, or 1.0 when no probabilities were recorded; the others score 0.0.
"""

from __future__ import annotations

from pathlib import Path

from api.schemas import ModerationResult
from guardq.policy import Action
from guardq.store.jobs import ItemResult
from guardq.verdict import Category

# OpenAI SDKs and clients send these names; they all mean "the model this deployment serves".
OPENAI_MODEL_PREFIXES = ("omni-moderation", "text-moderation")


def public_model_name(model: str) -> str:
    """The served model as callers see it: an HF id as is, a local directory by its name."""
    path = Path(model)
    return path.name if path.is_absolute() or path.is_dir() else model


def accepts_model(requested: str | None, served: str) -> bool:
    if requested is None or requested in (served, public_model_name(served)):
        return True
    return requested.startswith(OPENAI_MODEL_PREFIXES)


def moderation_result(row: ItemResult) -> ModerationResult:
    """The OpenAI-shaped result of a judged item (``row.verdict`` must be present)."""
    verdict = row.verdict
    named = set(verdict.categories)
    score = 1.0 - verdict.scores.safe if verdict.scores else 1.0
    return ModerationResult(
        flagged=verdict.action is not Action.ALLOW,
        categories={category.value: category in named for category in Category},
        category_scores={
            category.value: round(score, 6) if category in named else 0.0 for category in Category
        },
        severity=verdict.severity,
        refusal=verdict.refusal,
        action=verdict.action,
        reason=verdict.reason,
        content_sha256=row.content_sha256,
    )
