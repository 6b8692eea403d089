"""The reviewer workflow: list the queue, claim with a lease, resolve, release; the trail.

Every change is a compare-and-set: the state is read, the action checked against it,
and one conditional UPDATE applies it only if the row still holds that state (and is
still claimable). Of two reviewers racing for one item, the database lets exactly one
UPDATE match; the other re-reads, finds the winner's claim and gets ``ReviewConflict``.
Each applied change appends a ``review_events`` row in the same transaction.

A lease that has expired needs no write: the item simply counts as open again, and
the next claim takes it over (its trail row shows the lapsed claim as ``before``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from guardq.store.enums import EscalationStatus
from guardq.store.escalations import EscalationView
from guardq.store.models import ApiKey, Escalation, Item, Job, ReviewEvent, utcnow
from guardq.store.review_errors import ReviewClosed, ReviewConflict, ReviewNotFound
from guardq.store.review_queue import (
    UNPARSED,
    ReviewEventView,
    get_review,
    list_reviews,
    review_trail,
)
from guardq.store.review_stats import ReviewStats, review_stats
from guardq.verdict import Category, Mode, Severity, sorted_categories

# The reviewer workflow in one place: reading (review_queue), statistics (review_stats)
# and the actions defined here.
__all__ = [
    "UNPARSED",
    "ReviewEventView",
    "ReviewStats",
    "check_decision",
    "claim_review",
    "get_review",
    "list_reviews",
    "release_review",
    "resolve_review",
    "review_stats",
    "review_trail",
]

# Compare-and-set rounds before giving up: a loss means someone else changed the row,
# which re-reading almost always turns into a definite answer on the next round.
_ATTEMPTS = 3


@dataclass(frozen=True)
class _State:
    """What a review action is checked against (and compared on when it writes)."""

    id: uuid.UUID
    mode: Mode
    status: EscalationStatus
    claimed_by: uuid.UUID | None
    holder_name: str | None
    lease_expires_at: datetime | None
    decision: Severity | None
    decided_by_name: str | None
    decided_at: datetime | None

    def held_by_other(self, reviewer: uuid.UUID, now: datetime) -> bool:
        return self.held(now) and self.claimed_by != reviewer

    def held(self, now: datetime) -> bool:
        return self.status is EscalationStatus.CLAIMED and self.lease_expires_at > now

    def trail(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "claimed_by": str(self.claimed_by) if self.claimed_by else None,
            "lease_expires_at": _iso(self.lease_expires_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_Holder = aliased(ApiKey)
_Decider = aliased(ApiKey)


def _read_state(session: Session, escalation_id: uuid.UUID) -> _State:
    row = session.execute(
        select(
            Escalation.id,
            Job.mode,
            Escalation.status,
            Escalation.claimed_by,
            _Holder.name,
            Escalation.lease_expires_at,
            Escalation.decision,
            _Decider.name,
            Escalation.decided_at,
        )
        .join(Item, Item.id == Escalation.item_id)
        .join(Job, Job.id == Item.job_id)
        .outerjoin(_Holder, _Holder.id == Escalation.claimed_by)
        .outerjoin(_Decider, _Decider.id == Escalation.decided_by)
        .where(Escalation.id == escalation_id)
    ).first()
    if row is None:
        raise ReviewNotFound(escalation_id)
    state = _State(*row)
    if state.status is EscalationStatus.RESOLVED:
        raise ReviewClosed(escalation_id, state.decision, state.decided_by_name, state.decided_at)
    return state


def _held_conflict(state: _State, verb: str) -> ReviewConflict:
    holder = state.holder_name or str(state.claimed_by)
    return ReviewConflict(
        f"cannot {verb} escalation {state.id}: {holder} holds it until "
        f"{state.lease_expires_at.isoformat()}",
        holder_key_id=state.claimed_by,
        holder_name=state.holder_name,
        lease_expires_at=state.lease_expires_at,
    )


# A plan looks at the state and returns (action, values to set), or raises.
Plan = Callable[[_State], tuple[str, dict[str, Any]]]


def _apply(
    session: Session, escalation_id: uuid.UUID, actor: uuid.UUID, now: datetime, plan: Plan
) -> EscalationView:
    for _ in range(_ATTEMPTS):
        state = _read_state(session, escalation_id)
        action, values = plan(state)
        changed = session.execute(
            update(Escalation)
            .where(
                Escalation.id == escalation_id,
                Escalation.status == state.status,
                Escalation.claimed_by.is_not_distinct_from(state.claimed_by),
                Escalation.lease_expires_at.is_not_distinct_from(state.lease_expires_at),
            )
            .values(**values)
            .returning(Escalation.id)
            .execution_options(synchronize_session=False)
        ).first()
        if changed is None:
            continue
        after = {**state.trail(), **_trail_values(values)}
        session.add(
            ReviewEvent(
                escalation_id=escalation_id,
                actor_key_id=actor,
                action=action,
                before=state.trail(),
                after=after,
                at=now,
            )
        )
        session.flush()
        return get_review(session=session, escalation_id=escalation_id, now=now)
    raise ReviewConflict(f"escalation {escalation_id} kept changing under this request; retry")


def _trail_values(values: dict[str, Any]) -> dict[str, Any]:
    # The note is the reviewer's free text and may quote the content: the trail only
    # says whether there was one.
    trail = {}
    for name, value in values.items():
        if name == "note":
            trail["has_note"] = value is not None
        elif isinstance(value, datetime):
            trail[name] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            trail[name] = str(value)
        elif isinstance(value, EscalationStatus | Severity):
            trail[name] = value.value
        else:
            trail[name] = value
    return trail


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

    def plan(state: _State) -> tuple[str, dict[str, Any]]:
        if state.held_by_other(reviewer_key_id, now):
            raise _held_conflict(state, "claim")
        renew = state.held(now) and state.claimed_by == reviewer_key_id
        values = dict(
            status=EscalationStatus.CLAIMED,
            claimed_by=reviewer_key_id,
            lease_expires_at=now + lease,
        )
        return ("renewed" if renew else "claimed"), values

    return _apply(session, escalation_id, reviewer_key_id, now, plan)


def _not_holder(state: _State, reviewer: uuid.UUID, now: datetime, verb: str) -> None:
    if state.held_by_other(reviewer, now):
        raise _held_conflict(state, verb)
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


def resolve_review(
    *,
    session: Session,
    escalation_id: uuid.UUID,
    reviewer_key_id: uuid.UUID,
    decision: Severity,
    categories: Sequence[Category],
    note: str | None,
    retention: timedelta,
    now: datetime | None = None,
) -> EscalationView:
    """Decide the escalation; only its holder, under a live lease, may.

    The retained text is then kept for ``retention`` more (``purge_after``). Raises
    ValueError naming the field for categories that do not fit the decision, and the
    errors of ``claim_review``.
    """
    now = now or utcnow()
    decision = Severity(decision)

    def plan(state: _State) -> tuple[str, dict[str, Any]]:
        _not_holder(state, reviewer_key_id, now, "resolve")
        chosen = check_decision(decision, categories, state.mode)
        values = dict(
            status=EscalationStatus.RESOLVED,
            claimed_by=None,
            lease_expires_at=None,
            decision=decision,
            decision_categories=[c.value for c in chosen],
            note=note,
            decided_by=reviewer_key_id,
            decided_at=now,
            purge_after=now + retention,
        )
        return "resolved", values

    return _apply(session, escalation_id, reviewer_key_id, now, plan)


def release_review(
    *,
    session: Session,
    escalation_id: uuid.UUID,
    reviewer_key_id: uuid.UUID,
    now: datetime | None = None,
) -> EscalationView:
    """Give a claimed escalation back to the queue; only its holder may."""
    now = now or utcnow()

    def plan(state: _State) -> tuple[str, dict[str, Any]]:
        own_lapsed = state.status is EscalationStatus.CLAIMED and (
            state.claimed_by == reviewer_key_id
        )
        if not own_lapsed:
            _not_holder(state, reviewer_key_id, now, "release")
        values = dict(status=EscalationStatus.OPEN, claimed_by=None, lease_expires_at=None)
        return "released", values

    return _apply(session, escalation_id, reviewer_key_id, now, plan)
