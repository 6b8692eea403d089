"""Reading the reviewer queue: filtered, ordered pages of escalations, one escalation,
and its audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from guardq.store.enums import EscalationStatus
from guardq.store.escalations import (
    MAX_PAGE,
    EscalationView,
    get_escalation,
    is_held,
    is_open,
    to_view,
    view_query,
)
from guardq.store.models import (
    ApiKey,
    Escalation,
    Item,
    ReviewDecision,
    ReviewEvent,
    UTCDateTime,
    VerdictRecord,
    utcnow,
)
from guardq.store.review_errors import ReviewNotFound
from guardq.verdict import Category, Severity

UNPARSED = "unparsed"
Order = Literal["oldest", "priority", "due"]
ORDERS: tuple[Order, ...] = ("oldest", "priority", "due")
# Sorts escalations without a deadline (opened before deadlines existed) after the rest.
_NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class ReviewEventView:
    """One row of an escalation's audit trail; ``actor_key_id`` None: guardq itself."""

    id: uuid.UUID
    escalation_id: uuid.UUID
    actor_key_id: uuid.UUID | None
    actor_name: str | None
    action: str
    before: Any
    after: Any
    at: datetime


def _priority_rank():
    # Most severe first; an unparsed verdict could be anything, so it comes before the
    # merely Controversial.
    return case(
        (VerdictRecord.severity == Severity.UNSAFE, 0),
        (VerdictRecord.severity.is_(None), 1),
        (VerdictRecord.severity == Severity.CONTROVERSIAL, 2),
        else_=3,
    )


def _after(keys: Sequence, anchor: Sequence):
    """SQL: the row sorts after ``anchor`` on ``keys`` (a portable row-value compare)."""
    key, *rest = keys
    value, *rest_values = anchor
    if not rest:
        return key > value
    return or_(key > value, and_(key == value, _after(rest, rest_values)))


def list_reviews(
    *,
    session: Session,
    status: EscalationStatus | None = EscalationStatus.OPEN,
    category: Category | None = None,
    severity: Severity | Literal["unparsed"] | None = None,
    job_id: uuid.UUID | None = None,
    older_than: timedelta | None = None,
    text_retained: bool | None = None,
    order: Order = "oldest",
    limit: int = 50,
    after: uuid.UUID | None = None,
    now: datetime | None = None,
    reviewer_key_id: uuid.UUID | None = None,
    leads: bool = False,
    overdue: bool | None = None,
) -> list[EscalationView]:
    """A page of escalations; ``after`` (the last id of the previous page) pages on.

    ``status`` open includes claims whose lease has expired; None lists every status.
    ``severity`` filters on the model's verdict ("unparsed": it did not parse),
    ``category`` on a category the model found, ``older_than`` on time in the queue,
    ``text_retained`` on whether the text is still there to read.
    ``order`` "oldest" is first-in first-out; "priority" puts the most severe first
    (Unsafe, unparsed, Controversial), oldest first within each; "due" the earliest
    deadline first (those without one last).
    ``reviewer_key_id`` lists what that reviewer may take: not the items they decided
    already, nor disputed ones unless ``leads`` (the reviewer settles disputes).
    ``overdue`` filters on being undecided past the deadline.
    """
    now = now or utcnow()
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit: must be between 1 and {MAX_PAGE}, got {limit}")
    if order not in ORDERS:
        raise ValueError(f"order: must be 'oldest', 'priority' or 'due', got {order!r}")
    query = view_query()
    if status is EscalationStatus.OPEN:
        query = query.where(is_open(now))
    elif status is EscalationStatus.CLAIMED:
        query = query.where(is_held(now))
    elif status is not None:
        query = query.where(Escalation.status == EscalationStatus(status))
    if category is not None:
        # categories is a JSON array of the official strings; matching the quoted string
        # in its text works on both backends, and the quotes keep "Violent" from matching
        # inside "Non-violent Illegal Acts".
        label = f'%"{Category(category).value}"%'
        query = query.where(cast(VerdictRecord.categories, String).like(label))
    if severity == UNPARSED:
        query = query.where(VerdictRecord.severity.is_(None))
    elif severity is not None:
        query = query.where(VerdictRecord.severity == Severity(severity))
    if job_id is not None:
        query = query.where(Item.job_id == job_id)
    if older_than is not None:
        query = query.where(Escalation.created_at <= now - older_than)
    if text_retained is not None:
        kept = Escalation.retained_text.is_not(None)
        query = query.where(kept if text_retained else ~kept)
    if reviewer_key_id is not None:
        decided = exists().where(
            ReviewDecision.escalation_id == Escalation.id,
            ReviewDecision.reviewer_key_id == reviewer_key_id,
        )
        query = query.where(~decided)
        if not leads:
            query = query.where(Escalation.disputed.is_(False))
    if overdue is not None:
        late = and_(
            Escalation.status != EscalationStatus.RESOLVED,
            Escalation.due_at.is_not(None),
            Escalation.due_at <= now,
        )
        query = query.where(late if overdue else ~late)

    keys = [Escalation.created_at, Escalation.id]
    if order == "priority":
        keys.insert(0, _priority_rank())
    elif order == "due":
        deadline = literal(_NO_DEADLINE, UTCDateTime())
        keys.insert(0, func.coalesce(Escalation.due_at, deadline, type_=UTCDateTime()))
    if after is not None:
        anchor = session.execute(
            select(*keys)
            .select_from(Escalation)
            .join(VerdictRecord, VerdictRecord.id == Escalation.verdict_id)
            .where(Escalation.id == after)
        ).first()
        if anchor is None:
            raise ValueError(f"after: no escalation {after}")
        query = query.where(_after(keys, anchor))
    rows = session.execute(query.order_by(*keys).limit(limit))
    return [to_view(row, now) for row in rows]


def get_review(
    *, session: Session, escalation_id: uuid.UUID, now: datetime | None = None
) -> EscalationView:
    """One escalation; raises ``ReviewNotFound``."""
    view = get_escalation(session=session, escalation_id=escalation_id, now=now)
    if view is None:
        raise ReviewNotFound(escalation_id)
    return view


def review_trail(*, session: Session, escalation_id: uuid.UUID) -> list[ReviewEventView]:
    """The escalation's audit trail, oldest first (empty for an unknown id)."""
    rows = session.execute(
        select(ReviewEvent, ApiKey.name)
        .outerjoin(ApiKey, ApiKey.id == ReviewEvent.actor_key_id)
        .where(ReviewEvent.escalation_id == escalation_id)
        .order_by(ReviewEvent.at, ReviewEvent.id)
    )
    return [
        ReviewEventView(
            id=event.id,
            escalation_id=event.escalation_id,
            actor_key_id=event.actor_key_id,
            actor_name=name,
            action=event.action,
            before=event.before,
            after=event.after,
            at=event.at,
        )
        for event, name in rows
    ]
