"""Reviewer queue statistics: its size and age, who decides, and how often reviewers agree
with the model."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guardq.store.enums import EscalationStatus
from guardq.store.escalations import is_held, is_open
from guardq.store.models import ApiKey, Escalation, VerdictRecord, utcnow
from guardq.verdict import Category


@dataclass(frozen=True)
class ReviewerCount:
    key_id: uuid.UUID | None
    name: str | None
    decisions: int


@dataclass(frozen=True)
class Agreement:
    """Of ``decided`` escalations, ``agreed`` got the model's severity from the reviewer."""

    decided: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.decided if self.decided else None


@dataclass(frozen=True)
class ReviewStats:
    """``agreement_by_category`` counts each decided escalation under every category the
    model found in it; unparsed verdicts (no model severity to agree with) are left out
    of agreement and counted in ``unparsed_decided``."""

    open: int
    claimed: int
    resolved: int
    oldest_open_age_s: float | None
    decisions_by_reviewer: tuple[ReviewerCount, ...]
    agreement: Agreement
    agreement_by_category: dict[Category, Agreement]
    unparsed_decided: int


def review_stats(*, session: Session, now: datetime | None = None) -> ReviewStats:
    """The queue as of ``now``: counts, the oldest open item's age, decisions, agreement."""
    now = now or utcnow()
    open_count, oldest = session.execute(
        select(func.count(), func.min(Escalation.created_at)).where(is_open(now))
    ).one()
    claimed = session.scalar(select(func.count()).select_from(Escalation).where(is_held(now)))
    by_reviewer = session.execute(
        select(Escalation.decided_by, ApiKey.name, func.count())
        .outerjoin(ApiKey, ApiKey.id == Escalation.decided_by)
        .where(Escalation.status == EscalationStatus.RESOLVED)
        .group_by(Escalation.decided_by, ApiKey.name)
        .order_by(func.count().desc(), ApiKey.name)
    ).all()

    # Categories are JSON arrays, which the two backends aggregate differently; the
    # decided rows are few next to the verdicts, so they are counted here.
    decided = session.execute(
        select(VerdictRecord.severity, VerdictRecord.categories, Escalation.decision)
        .join(VerdictRecord, VerdictRecord.id == Escalation.verdict_id)
        .where(Escalation.status == EscalationStatus.RESOLVED)
    ).all()
    totals: dict[Category, list[int]] = defaultdict(lambda: [0, 0])
    overall = [0, 0]
    unparsed = 0
    for severity, categories, decision in decided:
        if severity is None:
            unparsed += 1
            continue
        agreed = int(decision == severity)
        overall[0] += 1
        overall[1] += agreed
        for name in categories:
            totals[Category(name)][0] += 1
            totals[Category(name)][1] += agreed

    return ReviewStats(
        open=open_count,
        claimed=claimed,
        resolved=len(decided),
        oldest_open_age_s=(now - oldest).total_seconds() if oldest else None,
        decisions_by_reviewer=tuple(ReviewerCount(*row) for row in by_reviewer),
        agreement=Agreement(*overall),
        agreement_by_category={
            category: Agreement(*totals[category])
            for category in sorted(totals, key=lambda c: c.order)
        },
        unparsed_decided=unparsed,
    )
