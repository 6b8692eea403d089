"""Escalations: items a human must review, and the purge of their retained text.

The reviewer workflow (claim with a lease, decide, release) builds on these tables later;
this module creates escalations and lists them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from guardq.store.dialects import insert_ignoring_duplicates
from guardq.store.enums import EscalationStatus
from guardq.store.models import Escalation, Item, ReviewEvent, VerdictRecord, utcnow
from guardq.verdict import Category, Severity

MAX_PAGE = 500


@dataclass(frozen=True)
class EscalationView:
    """An escalation as a reviewer sees it; ``text`` is None once purged or never kept."""

    id: uuid.UUID
    item_id: uuid.UUID
    job_id: uuid.UUID
    item_index: int
    item_ref: str | None
    content_sha256: str
    reason: str
    status: EscalationStatus
    severity: Severity | None
    categories: tuple[Category, ...]
    text: str | None
    claimed_by: uuid.UUID | None
    lease_expires_at: datetime | None
    created_at: datetime


def create_escalation(
    *,
    session: Session,
    item_id: uuid.UUID,
    verdict_id: uuid.UUID,
    reason: str,
    retained_text: str | None = None,
) -> uuid.UUID | None:
    """Open an escalation for ``item_id``; None when the item already has one.

    ``retained_text`` is the content the reviewer will read: the only raw text the store
    keeps, until ``purge_retained_text`` clears it after the decision.
    """
    escalation_id = uuid.uuid4()
    values = dict(
        id=escalation_id,
        item_id=item_id,
        verdict_id=verdict_id,
        reason=reason,
        retained_text=retained_text,
    )
    if not insert_ignoring_duplicates(session, Escalation, values, "item_id"):
        return None
    # The trail records what happened, never the content: no text in before/after.
    session.add(
        ReviewEvent(
            escalation_id=escalation_id,
            actor_key_id=None,
            action="escalated",
            before=None,
            after={"status": EscalationStatus.OPEN.value, "reason": reason},
        )
    )
    session.flush()
    return escalation_id


def _view_query():
    return (
        select(Escalation, Item, VerdictRecord)
        .join(Item, Item.id == Escalation.item_id)
        .join(VerdictRecord, VerdictRecord.id == Escalation.verdict_id)
    )


def _view(escalation: Escalation, item: Item, verdict: VerdictRecord) -> EscalationView:
    return EscalationView(
        id=escalation.id,
        item_id=item.id,
        job_id=item.job_id,
        item_index=item.index,
        item_ref=item.ref,
        content_sha256=item.content_sha256,
        reason=escalation.reason,
        status=escalation.status,
        severity=verdict.severity,
        categories=tuple(Category(c) for c in verdict.categories),
        text=escalation.retained_text,
        claimed_by=escalation.claimed_by,
        lease_expires_at=escalation.lease_expires_at,
        created_at=escalation.created_at,
    )


def list_escalations(
    *,
    session: Session,
    status: EscalationStatus = EscalationStatus.OPEN,
    limit: int = 50,
) -> list[EscalationView]:
    """Escalations in ``status``, oldest first (the order reviewers work them in)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    query = (
        _view_query()
        .where(Escalation.status == status)
        .order_by(Escalation.created_at, Escalation.id)
        .limit(limit)
    )
    return [_view(*row) for row in session.execute(query)]


def get_escalation(*, session: Session, escalation_id: uuid.UUID) -> EscalationView | None:
    """One escalation by id, or None."""
    row = session.execute(_view_query().where(Escalation.id == escalation_id)).first()
    return _view(*row) if row else None


def purge_retained_text(*, session: Session, now: datetime | None = None) -> int:
    """Clear the retained text of escalations past ``purge_after``; how many were cleared."""
    result = session.execute(
        update(Escalation)
        .where(Escalation.purge_after <= (now or utcnow()))
        .where(Escalation.retained_text.is_not(None))
        .values(retained_text=None)
    )
    return result.rowcount
