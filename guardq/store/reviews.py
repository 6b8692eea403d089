"""The reviewer workflow: claim with a lease, resolve, release (and, re-exported, the
queue, the trail and the statistics).

Each action is a compare-and-set (``review_state``): of two reviewers racing for one
item, exactly one wins and the other gets ``ReviewConflict``; each change leaves a trail
row. A lease that has expired needs no write: the item simply counts as open again, and
the next claim takes it over (its trail row shows the lapsed claim as ``before``).

Consensus: an escalation needs ``decisions_required`` independent decisions (the
policy's ``review``). Each decision is kept (``review_decisions``, one per reviewer: a
reviewer never decides an item twice). Short of the number, a decision that agrees with
the ones before puts the item back in the queue for another reviewer; the last agreeing
one resolves it. A decision that disagrees marks it disputed: only a lead (or an admin)
may then claim it, and the lead's decision settles it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guardq.store.enums import EscalationStatus, KeyRole
from guardq.store.escalations import EscalationView
from guardq.store.models import ApiKey, ReviewDecision, utcnow
from guardq.store.review_errors import ReviewConflict
from guardq.store.review_queue import (
    UNPARSED,
    ReviewEventView,
    get_review,
    list_reviews,
    review_trail,
)
from guardq.store.review_state import Label, ReviewState, apply_change, held_conflict
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
    "LEAD_ROLES",
    "claim_review",
    "get_review",
    "list_reviews",
    "release_review",
    "resolve_review",
    "resolve_reviews",
    "review_stats",
    "review_trail",
]


# The roles that settle disputed escalations.
LEAD_ROLES = (KeyRole.LEAD, KeyRole.ADMIN)


def _role(session: Session, key_id: uuid.UUID) -> KeyRole | None:
    return session.scalar(select(ApiKey.role).where(ApiKey.id == key_id))


def _may_take(session: Session, state: ReviewState, reviewer: uuid.UUID, verb: str) -> None:
    """Refuse an item this reviewer decided already, or a disputed one to a non-lead."""
    if state.decided(reviewer):
        raise ReviewConflict(
            f"cannot {verb} escalation {state.id}: you have decided it already; "
            "it needs another reviewer's independent decision"
        )
    if state.disputed and _role(session, reviewer) not in LEAD_ROLES:
        raise ReviewConflict(
            f"cannot {verb} escalation {state.id}: its reviewers disagreed and a lead settles it"
        )


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
        _may_take(session, state, reviewer_key_id, "claim")
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


# Items one bulk decision may take: a page's worth.
MAX_BULK = 100


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
    """Decide the escalation; only its holder, under a live lease, may, and only once.

    The decision is kept; it resolves the escalation when it is the last of the agreeing
    decisions the escalation needs, or a lead's on a disputed one (see the module).

    ``refusal`` is the reviewer's reading of whether a response-mode item's response
    refuses (None: not judged). The retained text is then kept for ``retention`` more
    (``purge_after``). Raises ValueError naming the field for categories that do not fit
    the decision or a refusal on a prompt-mode item, and the errors of ``claim_review``.
    """
    now = now or utcnow()
    decision = Severity(decision)
    recorded: list[tuple[Label, bool]] = []

    def plan(state: ReviewState) -> tuple[str, dict[str, Any], dict[str, Any]]:
        _not_holder(state, reviewer_key_id, now, "resolve")
        _may_take(session, state, reviewer_key_id, "resolve")
        chosen = check_decision(decision, categories, state.mode)
        judged_refusal = check_refusal(refusal, state.mode)
        label = Label(reviewer_key_id, decision, tuple(c.value for c in chosen), judged_refusal)
        recorded[:] = [(label, state.disputed)]
        made = len(state.decisions) + 1
        given = {
            "decision": decision.value,
            "decision_categories": list(label.categories),
            "decision_refusal": judged_refusal,
            "has_note": note is not None,
            "decisions_made": made,
            "decisions_required": state.decisions_required,
        }
        back_in_queue = dict(
            status=EscalationStatus.OPEN,
            claimed_by=None,
            lease_expires_at=None,
            decisions_made=made,
        )
        if not state.disputed and any(not label.same_label(d) for d in state.decisions):
            return "disputed", {**back_in_queue, "disputed": True}, given
        if not state.disputed and made < state.decisions_required:
            return "decided", back_in_queue, given
        agreed = 1 + sum(label.same_label(d) for d in state.decisions)
        values = dict(
            status=EscalationStatus.RESOLVED,
            claimed_by=None,
            lease_expires_at=None,
            decision=decision,
            decision_categories=list(label.categories),
            decision_refusal=judged_refusal,
            note=note,
            decided_by=reviewer_key_id,
            decided_at=now,
            purge_after=now + retention,
            decisions_made=made,
            agreed_count=agreed,
        )
        return ("settled" if state.disputed else "resolved"), values, given

    view = apply_change(session, escalation_id, reviewer_key_id, now, plan)
    ((label, settles),) = recorded
    session.add(
        ReviewDecision(
            escalation_id=escalation_id,
            reviewer_key_id=reviewer_key_id,
            decision=label.decision,
            categories=list(label.categories),
            refusal=label.refusal,
            note=note,
            settles=settles,
            at=now,
        )
    )
    session.flush()
    return view


def resolve_reviews(
    *,
    session: Session,
    escalation_ids: Sequence[uuid.UUID],
    reviewer_key_id: uuid.UUID,
    decision: Severity,
    categories: Sequence[Category],
    note: str | None,
    retention: timedelta,
    refusal: bool | None = None,
    now: datetime | None = None,
) -> list[EscalationView]:
    """Decide several escalations this reviewer holds at once, each as ``resolve_review``
    would (its own decision and trail row), all or none.

    They must share the content (one SHA-256) or the model's verdict (severity and
    categories): one decision then fits them all. Raises ValueError naming the field when
    they do not, and the first refusal of ``resolve_review`` (the caller's transaction
    then rolls the others back).
    """
    ids = list(dict.fromkeys(escalation_ids))
    if len(ids) < 2:
        raise ValueError(f"escalation_ids: a bulk decision takes at least 2 items, got {len(ids)}")
    if len(ids) > MAX_BULK:
        raise ValueError(f"escalation_ids: at most {MAX_BULK} items at once, got {len(ids)}")
    now = now or utcnow()
    views = [get_review(session=session, escalation_id=i, now=now) for i in ids]
    same_content = len({v.content_sha256 for v in views}) == 1
    same_verdict = len({(v.severity, v.categories) for v in views}) == 1
    if not (same_content or same_verdict):
        raise ValueError(
            "escalation_ids: a bulk decision needs items with the same content hash or the "
            "same model verdict (severity and categories)"
        )
    return [
        resolve_review(
            session=session,
            escalation_id=view.id,
            reviewer_key_id=reviewer_key_id,
            decision=decision,
            categories=categories,
            note=note,
            retention=retention,
            refusal=refusal,
            now=now,
        )
        for view in views
    ]


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
