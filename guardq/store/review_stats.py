"""Reviewer queue statistics: its size and age, who decides, how often reviewers agree
with the model, and with each other (kappa, on items decided by several reviewers)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guardq.agreement import cohens_kappa, fleiss_kappa
from guardq.store.enums import EscalationStatus
from guardq.store.escalations import is_held, is_open
from guardq.store.models import ApiKey, Escalation, ReviewDecision, VerdictRecord, utcnow
from guardq.verdict import Category, Severity


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
class InterReviewer:
    """Agreement between reviewers on the severity of ``items`` items, each decided
    independently by ``raters`` reviewers: Cohen's kappa for 2 (first decision against
    second), Fleiss' for more; ``kappa`` None when undefined (one class throughout)."""

    raters: int
    method: str
    items: int
    kappa: float | None


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
    # Between reviewers, per number of raters: over all items, and per model category.
    inter_reviewer: tuple[InterReviewer, ...] = ()
    inter_reviewer_by_category: dict[Category, tuple[InterReviewer, ...]] | None = None
    overdue: int = 0


def inter_reviewer(ratings: list[tuple[Severity, ...]]) -> tuple[InterReviewer, ...]:
    """Kappa per number of raters, over items' independent decisions (oldest first)."""
    by_raters: dict[int, list[tuple[Severity, ...]]] = defaultdict(list)
    for item in ratings:
        if len(item) >= 2:
            by_raters[len(item)].append(item)
    figures = []
    for raters, items in sorted(by_raters.items()):
        if raters == 2:
            kappa, method = cohens_kappa([(a, b) for a, b in items]), "cohen"
        else:
            kappa, method = fleiss_kappa(items), "fleiss"
        figures.append(InterReviewer(raters, method, len(items), kappa))
    return tuple(figures)


def overdue_count(*, session: Session, now: datetime | None = None) -> int:
    """Escalations still undecided past their deadline."""
    now = now or utcnow()
    return session.scalar(
        select(func.count())
        .select_from(Escalation)
        .where(
            Escalation.status != EscalationStatus.RESOLVED,
            Escalation.due_at.is_not(None),
            Escalation.due_at <= now,
        )
    )


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

    # Independent decisions only: a lead's settling decision came after seeing the dispute.
    rows = session.execute(
        select(ReviewDecision.escalation_id, ReviewDecision.decision, VerdictRecord.categories)
        .join(Escalation, Escalation.id == ReviewDecision.escalation_id)
        .join(VerdictRecord, VerdictRecord.id == Escalation.verdict_id)
        .where(ReviewDecision.settles.is_(False))
        .order_by(ReviewDecision.escalation_id, ReviewDecision.at, ReviewDecision.id)
    ).all()
    ratings: dict = {}
    item_categories: dict = {}
    for escalation_id, decision, categories in rows:
        ratings.setdefault(escalation_id, []).append(decision)
        item_categories[escalation_id] = categories
    per_category: dict[Category, list] = defaultdict(list)
    for escalation_id, item in ratings.items():
        for name in item_categories[escalation_id]:
            per_category[Category(name)].append(tuple(item))

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
        inter_reviewer=inter_reviewer([tuple(item) for item in ratings.values()]),
        inter_reviewer_by_category={
            category: figures
            for category in sorted(per_category, key=lambda c: c.order)
            if (figures := inter_reviewer(per_category[category]))
        },
        overdue=overdue_count(session=session, now=now),
    )
