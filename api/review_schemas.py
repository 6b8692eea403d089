"""Request and response bodies of the reviewer API (``/v1/reviews``), and the store's
review values turned into them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from api.schemas import SeverityScoresOut, SpanOut
from guardq.inputs import unstorable
from guardq.store.enums import EscalationStatus
from guardq.store.escalations import EscalationView
from guardq.store.models import utcnow
from guardq.store.review_queue import ReviewEventView
from guardq.store.review_stats import Agreement, InterReviewer, ReviewStats
from guardq.verdict import Category, Mode, Severity

# A reviewer's note explains a decision; it is not a place for the content.
NOTE_CHARS = 2000


def _storable(value: str | None) -> str | None:
    problem = unstorable(value) if value is not None else None
    if problem:
        raise ValueError(problem[0])
    return value


class ReviewResolve(BaseModel):
    """A decision in the model's own terms: Safe takes no categories, the others at least
    one (the official strings); ``refusal``, for a response-mode item only, says whether
    the response refuses."""

    model_config = ConfigDict(extra="forbid")

    decision: Severity
    # Validated when left out too: a decision of Unsafe without categories is refused.
    categories: Annotated[list[Category], Field(validate_default=True)] = []
    note: Annotated[StrictStr | None, Field(max_length=NOTE_CHARS), AfterValidator(_storable)] = (
        None
    )
    # Strict: "no" or 0 must not slip in as a reading of the response.
    refusal: StrictBool | None = None

    @field_validator("categories")
    @classmethod
    def _fit_the_decision(cls, value: list[Category], info: ValidationInfo) -> list[Category]:
        decision = info.data.get("decision")
        if decision is Severity.SAFE and value:
            raise ValueError("a decision of Safe takes no categories")
        if decision in (Severity.CONTROVERSIAL, Severity.UNSAFE) and not value:
            raise ValueError(f"a decision of {decision.value} needs at least one category")
        return value


class KeyRef(BaseModel):
    """An API key as reviewers know it: its id and name, never the secret."""

    id: uuid.UUID
    name: str | None


class ReviewItem(BaseModel):
    """One escalation: the model's verdict, why it was escalated, its text (when the
    producer let guardq keep it, until purged), the lease and, once resolved, the decision.
    """

    id: uuid.UUID
    status: EscalationStatus
    reason: str
    # The model's verdict; severity null: its output did not parse (model_error says why).
    severity: Severity | None
    categories: list[str]
    refusal: bool | None
    scores: SeverityScoresOut | None
    # The deciding chunk's characters in ``text``.
    span: SpanOut | None
    model: str
    model_error: str | None
    mode: Mode
    job_id: uuid.UUID
    item_index: int
    ref: str | None
    content_sha256: str
    # Null when the producer chose not to retain it (see ``ref``) or once purged.
    text: str | None
    prompt: str | None
    text_retained: bool
    purged_at: datetime | None
    claimed_by: KeyRef | None
    lease_expires_at: datetime | None
    decision: Severity | None
    decision_categories: list[str]
    # The reviewer's refusal reading (response mode); null when not given.
    decision_refusal: bool | None
    note: str | None
    decided_by: KeyRef | None
    decided_at: datetime | None
    purge_after: datetime | None
    created_at: datetime
    # Consensus: agreeing decisions needed and made; disputed: they disagreed, a lead
    # settles it; agreed_count: at resolution, how many reviewers gave the settled label.
    decisions_required: int
    decisions_made: int
    disputed: bool
    agreed_count: int | None
    # The policy's deadline for the escalation's reason; overdue: undecided past it.
    due_at: datetime | None
    overdue: bool


class ReviewEventOut(BaseModel):
    at: datetime
    action: str
    # Null: guardq itself (the policy escalated, the purge cleared the text).
    actor: KeyRef | None
    before: Any
    after: Any


class ReviewDetail(ReviewItem):
    trail: list[ReviewEventOut]


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    # Pass as ``after`` for the next page; null on the last page.
    next_after: uuid.UUID | None
    next: str | None


class ReviewerCountOut(BaseModel):
    key: KeyRef | None
    decisions: int


class AgreementOut(BaseModel):
    decided: int
    agreed: int
    rate: float | None


class InterReviewerOut(BaseModel):
    raters: int
    # "cohen" for two raters, "fleiss" for more.
    method: str
    items: int
    kappa: float | None


class ReviewBulkResolve(ReviewResolve):
    """One decision for several items you hold, with the same content hash or the same
    model verdict; each gets its own trail row."""

    ids: Annotated[list[uuid.UUID], Field(min_length=2, max_length=100)]


class ReviewStatsOut(BaseModel):
    open: int
    claimed: int
    resolved: int
    oldest_open_age_s: float | None
    decisions_by_reviewer: list[ReviewerCountOut]
    # Reviewer's decision equal to the model's severity, over decided items.
    agreement: AgreementOut
    agreement_by_category: dict[str, AgreementOut]
    # Decided items whose model output did not parse: no severity to agree with.
    unparsed_decided: int
    # Between reviewers on items several decided independently, per number of raters.
    inter_reviewer: list[InterReviewerOut]
    inter_reviewer_by_category: dict[str, list[InterReviewerOut]]
    # Escalations undecided past their deadline.
    overdue: int


def _key(key_id: uuid.UUID | None, name: str | None) -> KeyRef | None:
    return KeyRef(id=key_id, name=name) if key_id else None


def review_item(view: EscalationView) -> ReviewItem:
    scores = None
    if None not in (view.prob_safe, view.prob_controversial, view.prob_unsafe):
        scores = SeverityScoresOut(
            safe=view.prob_safe, controversial=view.prob_controversial, unsafe=view.prob_unsafe
        )
    span = None
    if view.span_start is not None and view.span_end is not None:
        span = SpanOut(start=view.span_start, end=view.span_end)
    return ReviewItem(
        id=view.id,
        status=view.status,
        reason=view.reason,
        severity=view.severity,
        categories=[c.value for c in view.categories],
        refusal=view.refusal,
        scores=scores,
        span=span,
        model=view.model_id,
        model_error=view.model_error,
        mode=view.mode,
        job_id=view.job_id,
        item_index=view.item_index,
        ref=view.item_ref,
        content_sha256=view.content_sha256,
        text=view.text,
        prompt=view.prompt,
        text_retained=view.text_retained,
        purged_at=view.purged_at,
        claimed_by=_key(view.claimed_by, view.claimed_by_name),
        lease_expires_at=view.lease_expires_at,
        decision=view.decision,
        decision_categories=[c.value for c in view.decision_categories],
        decision_refusal=view.decision_refusal,
        note=view.note,
        decided_by=_key(view.decided_by, view.decided_by_name),
        decided_at=view.decided_at,
        purge_after=view.purge_after,
        created_at=view.created_at,
        decisions_required=view.decisions_required,
        decisions_made=view.decisions_made,
        disputed=view.disputed,
        agreed_count=view.agreed_count,
        due_at=view.due_at,
        overdue=view.overdue(utcnow()),
    )


def review_detail(view: EscalationView, trail: list[ReviewEventView]) -> ReviewDetail:
    events = [
        ReviewEventOut(
            at=event.at,
            action=event.action,
            actor=_key(event.actor_key_id, event.actor_name),
            before=event.before,
            after=event.after,
        )
        for event in trail
    ]
    return ReviewDetail(**review_item(view).model_dump(), trail=events)


def _agreement(agreement: Agreement) -> AgreementOut:
    return AgreementOut(decided=agreement.decided, agreed=agreement.agreed, rate=agreement.rate)


def review_stats_out(stats: ReviewStats) -> ReviewStatsOut:
    return ReviewStatsOut(
        open=stats.open,
        claimed=stats.claimed,
        resolved=stats.resolved,
        oldest_open_age_s=stats.oldest_open_age_s,
        decisions_by_reviewer=[
            ReviewerCountOut(key=_key(r.key_id, r.name), decisions=r.decisions)
            for r in stats.decisions_by_reviewer
        ],
        agreement=_agreement(stats.agreement),
        agreement_by_category={
            category.value: _agreement(agreement)
            for category, agreement in stats.agreement_by_category.items()
        },
        unparsed_decided=stats.unparsed_decided,
        inter_reviewer=[_inter(f) for f in stats.inter_reviewer],
        inter_reviewer_by_category={
            category.value: [_inter(f) for f in figures]
            for category, figures in (stats.inter_reviewer_by_category or {}).items()
        },
        overdue=stats.overdue,
    )


def _inter(figure: InterReviewer) -> InterReviewerOut:
    return InterReviewerOut(
        raters=figure.raters, method=figure.method, items=figure.items, kappa=figure.kappa
    )
