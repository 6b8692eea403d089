"""The reviewer workflow: claim with a lease, resolve, release (and, re-exported, the
queue, the trail and the statistics).

Each action is a compare-and-set (``review_state``): of two reviewers racing for one
item, exactly one wins and the other gets ``ReviewConflict``; each change leaves a trail
row. A lease that has expired needs no write: the item simply counts as open again, and
the next claim takes it over (its trail row shows the lapsed claim as ``before``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from guardq.store.enums import EscalationStatus
from guardq.store.escalations import EscalationView
from guardq.store.models import utcnow
from guardq.store.review_errors import ReviewConflict
from guardq.store.review_queue import (
    UNPARSED,
    ReviewEventView,
    get_review,
    list_reviews,
    review_trail,
)
from guardq.store.review_state import ReviewState, apply_change, held_conflict
from guardq.store.review_stats import ReviewStats, review_stats
from guardq.verdict import Category, Mode, Severity, sorted_categories

# The reviewer workflow in one place: reading (review_queue), statistics (review_stats)
# and the actions defined here.
__all__ = [
    "UNPARSED",
    "ReviewEventView",
    "ReviewStats",
    "check_decision",
    "check_refusal",
    "claim_review",
    "get_review",
    "list_reviews",
    "release_review",
    "resolve_review",
    "review_stats",
    "review_trail",
]


def claim_review(
    *,
    session: Session,
    escalation_id: uuid.UUID,
    reviewer_key_id: uuid.UUID,
    lease: timedelta,
    now: datetime | None = None,
) -> EscalationView:
    """Hold the escalation for ``lease``; claiming one's own claim again renews it.

    Raises ``ReviewConflict`` (another reviewer holds it: who, and until when),
    ``ReviewClosed`` (already resolved) or ``ReviewNotFound``.
    """
    now = now or utcnow()
    if lease <= timedelta(0):
        raise ValueError(f"lease: must be positive, got {lease}")

    def plan(state: ReviewState) -> tuple[str, dict[str, Any]]:
        if state.held_by_other(reviewer_key_id, now):
            raise held_conflict(state, "claim")
        renew = state.held(now) and state.claimed_by == reviewer_key_id
        values = dict(
            status=EscalationStatus.CLAIMED,
            claimed_by=reviewer_key_id,
            lease_expires_at=now + lease,
        )
        return ("renewed" if renew else "claimed"), values

    return apply_change(session, escalation_id, reviewer_key_id, now, plan)


def _not_holder(state: ReviewState, reviewer: uuid.UUID, now: datetime, verb: str) -> None:
    if state.held_by_other(reviewer, now):
        raise held_conflict(state, verb)
    if not state.held(now):
        lapsed = (
            f" (your lease expired at {state.lease_expires_at.isoformat()})"
            if state.claimed_by == reviewer and state.lease_expires_at
            else ""
        )
        raise ReviewConflict(
            f"cannot {verb} escalation {state.id}: you have not claimed it{lapsed}; claim it first"
        )


def check_decision(
    decision: Severity, categories: Sequence[Category], mode: Mode
) -> tuple[Category, ...]:
    """The decision's categories, deduplicated in the official order; ValueError naming
    the field when they do not fit the decision (or the item's mode)."""
    categories = sorted_categories(Category(c) for c in categories)
    if decision is Severity.SAFE and categories:
        raise ValueError("categories: a decision of Safe takes no categories")
    if decision is not Severity.SAFE and not categories:
        raise ValueError(f"categories: a decision of {decision.value} needs at least one category")
    if mode is Mode.RESPONSE and Category.JAILBREAK in categories:
        raise ValueError("categories: Jailbreak applies to prompt moderation only")
    return categories


def check_refusal(refusal: bool | None, mode: Mode) -> bool | None:
    """The reviewer's refusal reading, if it fits the item; ValueError naming the field.

    Only a response can refuse: Qwen3Guard answers ``Refusal:`` in response moderation
    alone, so a prompt-mode item takes none.
    """
    if refusal is None:
        return None
    if not isinstance(refusal, bool):
        raise ValueError(f"refusal: must be true or false, got {refusal!r}")
    if mode is not Mode.RESPONSE:
        raise ValueError("refusal: applies to response moderation only")
    return refusal


def resolve_review(
    *,
    session: Session,
    escalation_id: uuid.UUID,
    reviewer_key_id: uuid.UUID,
    decision: Severity,
    categories: Sequence[Category],
    note: str | None,
    retention: timedelta,
    refusal: bool | None = None,
    now: datetime | None = None,
) -> EscalationView:
    """Decide the escalation; only its holder, under a live lease, may.

    ``refusal`` is the reviewer's reading of whether a response-mode item's response
    refuses (None: not judged). The retained text is then kept for ``retention`` more
    (``purge_after``). Raises ValueError naming the field for categories that do not fit
    the decision or a refusal on a prompt-mode item, and the errors of ``claim_review``.
    """
    now = now or utcnow()
    decision = Severity(decision)

    def plan(state: ReviewState) -> tuple[str, dict[str, Any]]:
        _not_holder(state, reviewer_key_id, now, "resolve")
        chosen = check_decision(decision, categories, state.mode)
        judged_refusal = check_refusal(refusal, state.mode)
        values = dict(
            status=EscalationStatus.RESOLVED,
            claimed_by=None,
            lease_expires_at=None,
            decision=decision,
            decision_categories=[c.value for c in chosen],
            decision_refusal=judged_refusal,
            note=note,
            decided_by=reviewer_key_id,
            decided_at=now,
            purge_after=now + retention,
        )
        return "resolved", values

    return apply_change(session, escalation_id, reviewer_key_id, now, plan)


def release_review(
    *,
    session: Session,
    escalation_id: uuid.UUID,
    reviewer_key_id: uuid.UUID,
    now: datetime | None = None,
) -> EscalationView:
    """Give a claimed escalation back to the queue; only its holder may."""
    now = now or utcnow()

    def plan(state: ReviewState) -> tuple[str, dict[str, Any]]:
        own_lapsed = state.status is EscalationStatus.CLAIMED and (
            state.claimed_by == reviewer_key_id
        )
        if not own_lapsed:
            _not_holder(state, reviewer_key_id, now, "release")
        values = dict(status=EscalationStatus.OPEN, claimed_by=None, lease_expires_at=None)
        return "released", values

    return apply_change(session, escalation_id, reviewer_key_id, now, plan)
