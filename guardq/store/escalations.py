"""Escalations: items a human must review, as reviewers see them, and the text purge.

This module opens escalations (``record_outcomes`` calls it) and reads them;
``guardq.store.reviews`` holds the reviewer workflow (claim, resolve, release).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from guardq.store.dialects import insert_returning
from guardq.store.enums import EscalationStatus
from guardq.store.models import ApiKey, Escalation, Item, Job, ReviewEvent, VerdictRecord, utcnow
from guardq.verdict import Category, Mode, Severity

MAX_PAGE = 500


@dataclass(frozen=True)
class EscalationView:
    """An escalation as a reviewer sees it, with the model's verdict on the item.

    ``status`` is the effective one: a claim whose lease has expired reads as open (the
    item is back in the queue) with no holder. ``text`` is the judged content (the
    response, in response mode, with ``prompt`` beside it); None when the producer kept
    no text (``retain_text`` off: show ``item_ref``) or once purged (``purged_at``).
    ``span_start``/``span_end`` locate the deciding chunk in ``text``.
    """

    id: uuid.UUID
    item_id: uuid.UUID
    job_id: uuid.UUID
    item_index: int
    item_ref: str | None
    content_sha256: str
    mode: Mode
    reason: str
    status: EscalationStatus
    # The model's verdict; severity None: its output did not parse (``model_error``).
    severity: Severity | None
    categories: tuple[Category, ...]
    refusal: bool | None
    prob_safe: float | None
    prob_controversial: float | None
    prob_unsafe: float | None
    span_start: int | None
    span_end: int | None
    model_id: str
    model_error: str | None
    text: str | None
    prompt: str | None
    purged_at: datetime | None
    claimed_by: uuid.UUID | None
    claimed_by_name: str | None
    lease_expires_at: datetime | None
    # The reviewer's decision, once resolved.
    decision: Severity | None
    decision_categories: tuple[Category, ...]
    # Response mode: the reviewer's reading of refusal; None when not given.
    decision_refusal: bool | None
    note: str | None
    decided_by: uuid.UUID | None
    decided_by_name: str | None
    decided_at: datetime | None
    purge_after: datetime | None
    created_at: datetime
    # Consensus: agreeing decisions needed, decisions made so far, whether they
    # disagreed (a lead settles it), and once resolved how many gave the settled label.
    decisions_required: int = 1
    decisions_made: int = 0
    disputed: bool = False
    agreed_count: int | None = None
    # The policy's deadline for this escalation's reason; None for older rows.
    due_at: datetime | None = None

    @property
    def text_retained(self) -> bool:
        return self.text is not None

    def overdue(self, now: datetime) -> bool:
        """Still undecided past its deadline."""
        return (
            self.status is not EscalationStatus.RESOLVED
            and self.due_at is not None
            and self.due_at <= now
        )


@dataclass(frozen=True)
class NewEscalation:
    """An escalation to open for an item just judged.

    ``retained_text`` (and, in response mode, ``retained_prompt``) is the content the
    reviewer will read: the only raw text the store keeps, until ``purge_retained_text``
    clears it after the decision.
    """

    item_id: uuid.UUID
    verdict_id: uuid.UUID
    reason: str
    retained_text: str | None = None
    retained_prompt: str | None = None
    # The policy's review terms (``guardq.policy.Decision``): agreeing decisions needed,
    # and the time from now to the deadline.
    decisions: int = 1
    due_in: timedelta | None = None


def open_escalations(
    *, session: Session, rows: Sequence[NewEscalation]
) -> dict[uuid.UUID, uuid.UUID]:
    """Open an escalation per row, with its trail row; item -> escalation id for those
    opened (an item that already has one is left alone). A few statements per batch."""
    ids = {row.item_id: uuid.uuid4() for row in rows}
    now = utcnow()
    opened = insert_returning(
        session,
        Escalation,
        [
            dict(
                id=ids[row.item_id],
                item_id=row.item_id,
                verdict_id=row.verdict_id,
                reason=row.reason,
                status=EscalationStatus.OPEN,
                retained_text=row.retained_text,
                retained_prompt=row.retained_prompt if row.retained_text is not None else None,
                created_at=now,
                decisions_required=row.decisions,
                due_at=now + row.due_in if row.due_in is not None else None,
            )
            for row in sorted(rows, key=lambda row: row.item_id)
        ],
        conflict="item_id",
        returning=Escalation.item_id,
    )
    if opened:
        # The trail records what happened, never the content: no text in before/after.
        session.execute(
            insert(ReviewEvent),
            [
                {
                    "id": uuid.uuid4(),
                    "escalation_id": ids[row.item_id],
                    "actor_key_id": None,
                    "action": "escalated",
                    "before": None,
                    "after": {
                        "status": EscalationStatus.OPEN.value,
                        "reason": row.reason,
                        "text_retained": row.retained_text is not None,
                        "decisions_required": row.decisions,
                        "due_at": (now + row.due_in).isoformat() if row.due_in else None,
                    },
                    "at": now,
                }
                for row in rows
                if row.item_id in opened
            ],
        )
    return {item_id: ids[item_id] for item_id in opened}


def create_escalation(
    *,
    session: Session,
    item_id: uuid.UUID,
    verdict_id: uuid.UUID,
    reason: str,
    retained_text: str | None = None,
    retained_prompt: str | None = None,
    decisions: int = 1,
    due_in: timedelta | None = None,
) -> uuid.UUID | None:
    """Open an escalation for ``item_id`` (``open_escalations`` for one); None when the
    item already has one."""
    opened = open_escalations(
        session=session,
        rows=[
            NewEscalation(
                item_id, verdict_id, reason, retained_text, retained_prompt, decisions, due_in
            )
        ],
    )
    return opened.get(item_id)


def is_open(now: datetime):
    """SQL: the escalation waits for a reviewer (never claimed, or its lease expired)."""
    return or_(
        Escalation.status == EscalationStatus.OPEN,
        and_(Escalation.status == EscalationStatus.CLAIMED, Escalation.lease_expires_at <= now),
    )


def is_held(now: datetime):
    """SQL: a reviewer holds the escalation under a live lease."""
    return and_(Escalation.status == EscalationStatus.CLAIMED, Escalation.lease_expires_at > now)


_Claimer = aliased(ApiKey)
_Decider = aliased(ApiKey)


def view_query():
    """The select that ``to_view`` reads: the escalation, its item, job, verdict and the
    names of the keys that hold or decided it."""
    return (
        select(Escalation, Item, Job.mode, VerdictRecord, _Claimer.name, _Decider.name)
        .join(Item, Item.id == Escalation.item_id)
        .join(Job, Job.id == Item.job_id)
        .join(VerdictRecord, VerdictRecord.id == Escalation.verdict_id)
        .outerjoin(_Claimer, _Claimer.id == Escalation.claimed_by)
        .outerjoin(_Decider, _Decider.id == Escalation.decided_by)
        .execution_options(populate_existing=True)
    )


def to_view(row, now: datetime | None = None) -> EscalationView:
    """A ``view_query`` row as a view, its status as of ``now``."""
    escalation, item, mode, verdict, claimer, decider = row
    status, claimed_by, lease = (
        escalation.status,
        escalation.claimed_by,
        escalation.lease_expires_at,
    )
    if status is EscalationStatus.CLAIMED and lease is not None and lease <= (now or utcnow()):
        status, claimed_by, lease, claimer = EscalationStatus.OPEN, None, None, None
    return EscalationView(
        id=escalation.id,
        item_id=item.id,
        job_id=item.job_id,
        item_index=item.index,
        item_ref=item.ref,
        content_sha256=item.content_sha256,
        mode=mode,
        reason=escalation.reason,
        status=status,
        severity=verdict.severity,
        categories=tuple(Category(c) for c in verdict.categories),
        refusal=verdict.refusal,
        prob_safe=verdict.prob_safe,
        prob_controversial=verdict.prob_controversial,
        prob_unsafe=verdict.prob_unsafe,
        span_start=verdict.span_start,
        span_end=verdict.span_end,
        model_id=verdict.model_id,
        model_error=verdict.error,
        text=escalation.retained_text,
        prompt=escalation.retained_prompt,
        purged_at=escalation.purged_at,
        claimed_by=claimed_by,
        claimed_by_name=claimer,
        lease_expires_at=lease,
        decision=escalation.decision,
        decision_categories=tuple(Category(c) for c in escalation.decision_categories or ()),
        decision_refusal=escalation.decision_refusal,
        note=escalation.note,
        decided_by=escalation.decided_by,
        decided_by_name=decider,
        decided_at=escalation.decided_at,
        purge_after=escalation.purge_after,
        created_at=escalation.created_at,
        decisions_required=escalation.decisions_required,
        decisions_made=escalation.decisions_made,
        disputed=escalation.disputed,
        agreed_count=escalation.agreed_count,
        due_at=escalation.due_at,
    )


def list_escalations(
    *,
    session: Session,
    status: EscalationStatus = EscalationStatus.OPEN,
    limit: int = 50,
) -> list[EscalationView]:
    """Escalations stored in ``status``, oldest first (``reviews.list_reviews`` filters
    and orders as reviewers need)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    query = (
        view_query()
        .where(Escalation.status == status)
        .order_by(Escalation.created_at, Escalation.id)
        .limit(limit)
    )
    return [to_view(row) for row in session.execute(query)]


def get_escalation(
    *, session: Session, escalation_id: uuid.UUID, now: datetime | None = None
) -> EscalationView | None:
    """One escalation by id, or None."""
    row = session.execute(view_query().where(Escalation.id == escalation_id)).first()
    return to_view(row, now) if row else None


def purge_retained_text(*, session: Session, now: datetime | None = None) -> int:
    """Clear the retained text of escalations past ``purge_after``; how many were cleared.

    The hash (on the item) and the decision stay; each purge leaves a trail row.
    """
    now = now or utcnow()
    purged = session.scalars(
        update(Escalation)
        .where(Escalation.purge_after <= now, Escalation.retained_text.is_not(None))
        .values(retained_text=None, retained_prompt=None, purged_at=now)
        .returning(Escalation.id)
        .execution_options(synchronize_session=False)
    ).all()
    if purged:
        session.execute(
            insert(ReviewEvent),
            [
                {
                    "id": uuid.uuid4(),
                    "escalation_id": escalation_id,
                    "actor_key_id": None,
                    "action": "purged",
                    "before": {"text_retained": True},
                    "after": {"text_retained": False, "purged_at": now.isoformat()},
                    "at": now,
                }
                for escalation_id in purged
            ],
        )
    return len(purged)


def mark_overdue(
    *, session: Session, now: datetime | None = None
) -> list[tuple[uuid.UUID, datetime]]:
    """Escalations that went past their deadline undecided since the last call: each gets
    an ``overdue`` trail row (so it is reported once); (id, due_at) of those, earliest due
    first."""
    now = now or utcnow()
    reported = select(ReviewEvent.id).where(
        ReviewEvent.escalation_id == Escalation.id, ReviewEvent.action == "overdue"
    )
    late = session.execute(
        select(Escalation.id, Escalation.due_at)
        .where(
            Escalation.status != EscalationStatus.RESOLVED,
            Escalation.due_at.is_not(None),
            Escalation.due_at <= now,
            ~reported.exists(),
        )
        .order_by(Escalation.due_at, Escalation.id)
    ).all()
    if late:
        session.execute(
            insert(ReviewEvent),
            [
                {
                    "id": uuid.uuid4(),
                    "escalation_id": escalation_id,
                    "actor_key_id": None,
                    "action": "overdue",
                    "before": None,
                    "after": {"due_at": due_at.isoformat()},
                    "at": now,
                }
                for escalation_id, due_at in late
            ],
        )
    return [(escalation_id, due_at) for escalation_id, due_at in late]
