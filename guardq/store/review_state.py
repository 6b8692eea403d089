"""Compare-and-set on an escalation's review state, with its audit trail row.

An action reads the state (``ReviewState``), a plan checks it and says what to set, and
one conditional UPDATE applies that only if the row still holds the state read (and the
status, holder and lease it was checked against). Of two reviewers racing for one item,
the database lets exactly one UPDATE match; the other re-reads, sees the winner, and its
plan refuses. Each applied change appends a ``review_events`` row in the same
transaction, its ``before`` and ``after`` states without any text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from guardq.store.enums import EscalationStatus
from guardq.store.escalations import EscalationView
from guardq.store.models import ApiKey, Escalation, Item, Job, ReviewDecision, ReviewEvent
from guardq.store.review_errors import ReviewClosed, ReviewConflict, ReviewNotFound
from guardq.store.review_queue import get_review
from guardq.verdict import Mode, Severity

# Compare-and-set rounds before giving up: a loss means someone else changed the row,
# which re-reading almost always turns into a definite answer on the next round.
_ATTEMPTS = 3


@dataclass(frozen=True)
class ReviewState:
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
    decisions_required: int = 1
    disputed: bool = False
    # The decisions made so far (consensus review), oldest first.
    decisions: tuple[Label, ...] = ()

    def decided(self, reviewer: uuid.UUID) -> bool:
        return any(label.reviewer == reviewer for label in self.decisions)

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


@dataclass(frozen=True)
class Label:
    """One reviewer's decision; two agree when they give the same label."""

    reviewer: uuid.UUID
    decision: Severity
    categories: tuple[str, ...]
    refusal: bool | None

    def same_label(self, other: Label) -> bool:
        return (self.decision, self.categories, self.refusal) == (
            other.decision,
            other.categories,
            other.refusal,
        )


_Holder = aliased(ApiKey)
_Decider = aliased(ApiKey)


def read_state(session: Session, escalation_id: uuid.UUID) -> ReviewState:
    """The escalation's state; raises ``ReviewNotFound``, or ``ReviewClosed`` once resolved."""
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
            Escalation.decisions_required,
            Escalation.disputed,
        )
        .join(Item, Item.id == Escalation.item_id)
        .join(Job, Job.id == Item.job_id)
        .outerjoin(_Holder, _Holder.id == Escalation.claimed_by)
        .outerjoin(_Decider, _Decider.id == Escalation.decided_by)
        .where(Escalation.id == escalation_id)
    ).first()
    if row is None:
        raise ReviewNotFound(escalation_id)
    decisions = session.execute(
        select(
            ReviewDecision.reviewer_key_id,
            ReviewDecision.decision,
            ReviewDecision.categories,
            ReviewDecision.refusal,
        )
        .where(ReviewDecision.escalation_id == escalation_id)
        .order_by(ReviewDecision.at, ReviewDecision.id)
    ).all()
    labels = tuple(
        Label(key, decision, tuple(cats), refusal) for key, decision, cats, refusal in decisions
    )
    state = ReviewState(*row, decisions=labels)
    if state.status is EscalationStatus.RESOLVED:
        raise ReviewClosed(escalation_id, state.decision, state.decided_by_name, state.decided_at)
    return state


def held_conflict(state: ReviewState, verb: str) -> ReviewConflict:
    holder = state.holder_name or str(state.claimed_by)
    return ReviewConflict(
        f"cannot {verb} escalation {state.id}: {holder} holds it until "
        f"{state.lease_expires_at.isoformat()}",
        holder_key_id=state.claimed_by,
        holder_name=state.holder_name,
        lease_expires_at=state.lease_expires_at,
    )


# A plan looks at the state and returns (action, values to set), or raises; a third
# element, when given, adds to the trail row's ``after`` (what the values do not say).
Plan = Callable[[ReviewState], tuple]


def apply_change(
    session: Session, escalation_id: uuid.UUID, actor: uuid.UUID, now: datetime, plan: Plan
) -> EscalationView:
    """Apply what ``plan`` decides on the current state, as ``actor`` at ``now``, with its
    trail row; the escalation afterwards. Raises what ``read_state`` and ``plan`` raise."""
    for _ in range(_ATTEMPTS):
        state = read_state(session, escalation_id)
        action, values, *extra = plan(state)
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
        after = {**state.trail(), **trail_values(values), **(extra[0] if extra else {})}
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


def trail_values(values: dict[str, Any]) -> dict[str, Any]:
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
