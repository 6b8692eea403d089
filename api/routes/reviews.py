"""Reviewer endpoints: the queue of escalations, claim with a lease, resolve (one item or
several at once), release, stats.

Reviewer, lead and admin keys only (producers get 403). An escalation may need several
agreeing decisions (the policy's ``review``); a disagreement leaves it to a lead.
A claim holds an item for GUARDQ_REVIEW_LEASE_S seconds; of two reviewers claiming at
once, one gets the item and the other a 409 naming the holder. Every action is in the
item's trail (``GET /v1/reviews/{id}``). Write endpoints commit before they answer: a
200 means recorded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.deps import FactoryDep, ReviewerKey, SessionDep, SettingsDep
from api.errors import FieldError, InputError
from api.review_schemas import (
    ReviewBulkResolve,
    ReviewDetail,
    ReviewItem,
    ReviewPage,
    ReviewResolve,
    ReviewStatsOut,
    review_detail,
    review_item,
    review_stats_out,
)
from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus
from guardq.store.escalations import MAX_PAGE, EscalationView
from guardq.store.models import INTEGER_MAX
from guardq.store.review_errors import (
    ReviewClosed,
    ReviewConflict,
    ReviewError,
    ReviewNotFound,
)
from guardq.store.reviews import (
    LEAD_ROLES,
    claim_review,
    get_review,
    list_reviews,
    release_review,
    resolve_review,
    resolve_reviews,
    review_stats,
    review_trail,
)
from guardq.verdict import Category

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

_REFUSALS = {
    404: {"description": "No such escalation"},
    409: {"description": "Held by another reviewer, not held by you, or already resolved"},
}


def _refused(exc: ReviewError) -> HTTPException:
    if isinstance(exc, ReviewNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    detail: dict = {"msg": str(exc)}
    if isinstance(exc, ReviewConflict) and exc.holder_key_id is not None:
        detail["held_by"] = {"id": str(exc.holder_key_id), "name": exc.holder_name}
        detail["lease_expires_at"] = exc.lease_expires_at.isoformat()
    if isinstance(exc, ReviewClosed):
        detail["decision"] = exc.decision.value if exc.decision else None
    return HTTPException(status.HTTP_409_CONFLICT, detail)


def _act(factory, action: Callable[[Session], EscalationView]) -> ReviewItem:
    """Run a review action in its own transaction, committed before the answer."""
    try:
        with session_scope(factory) as session:
            view = action(session)
    except ReviewError as exc:
        raise _refused(exc) from None
    except ValueError as exc:
        # The store names the field first ("categories: ..."), never the content.
        field, _, problem = str(exc).partition(": ")
        raise InputError([FieldError((field,), problem or str(exc))]) from None
    return review_item(view)


@router.get("", response_model=ReviewPage)
def read_queue(
    session: SessionDep,
    key: ReviewerKey,
    request: Request,
    status_: Annotated[
        Literal["open", "claimed", "resolved", "all"],
        Query(alias="status", description="open includes claims whose lease expired"),
    ] = "open",
    category: Annotated[Category | None, Query(description="a category the model found")] = None,
    severity: Annotated[
        Literal["Safe", "Controversial", "Unsafe", "unparsed"] | None,
        Query(description="the model's severity; unparsed: its output did not parse"),
    ] = None,
    job_id: uuid.UUID | None = None,
    older_than_s: Annotated[
        int | None, Query(ge=0, le=INTEGER_MAX, description="seconds in the queue")
    ] = None,
    order: Annotated[
        Literal["oldest", "priority", "due"],
        Query(
            description="priority: Unsafe, unparsed, Controversial, oldest first within; "
            "due: the earliest deadline first"
        ),
    ] = "oldest",
    overdue: Annotated[
        bool | None, Query(description="true: only items undecided past their deadline")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    after: Annotated[uuid.UUID | None, Query(description="the last id already read")] = None,
) -> ReviewPage:
    """A page of escalations, filtered and ordered; page on with ``next``.

    The open queue leaves out what this key may not take: items it decided already
    (each needs independent decisions) and, unless it is a lead's or an admin's,
    disputed ones."""
    try:
        views = list_reviews(
            session=session,
            status=None if status_ == "all" else EscalationStatus(status_),
            category=category,
            severity=severity,
            job_id=job_id,
            older_than=timedelta(seconds=older_than_s) if older_than_s is not None else None,
            order=order,
            limit=limit,
            after=after,
            overdue=overdue,
            reviewer_key_id=key.id if status_ == "open" else None,
            leads=key.role in LEAD_ROLES,
        )
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("query", "after"), "msg": str(exc), "type": "value_error"}]
        ) from None
    next_after = views[-1].id if len(views) == limit else None
    next_link = None
    if next_after is not None:
        query = {k: v for k, v in request.query_params.items() if k != "after"}
        next_link = f"{request.url.path}?{urlencode({**query, 'after': str(next_after)})}"
    return ReviewPage(
        items=[review_item(view) for view in views], next_after=next_after, next=next_link
    )


@router.get("/stats", response_model=ReviewStatsOut)
def read_stats(session: SessionDep, key: ReviewerKey) -> ReviewStatsOut:
    """Open and claimed counts, the oldest open item's age, decisions per reviewer, and
    how often reviewers agree with the model's severity, per category."""
    return review_stats_out(review_stats(session=session))


@router.post("/bulk-resolve", response_model=list[ReviewItem], responses=_REFUSALS)
def bulk_resolve(
    body: ReviewBulkResolve, key: ReviewerKey, factory: FactoryDep, settings: SettingsDep
) -> list[ReviewItem]:
    """Decide several items you hold at once (same content hash, or same model verdict):
    all or none, each with its own trail row."""
    try:
        with session_scope(factory) as session:
            views = resolve_reviews(
                session=session,
                escalation_ids=body.ids,
                reviewer_key_id=key.id,
                decision=body.decision,
                categories=body.categories,
                note=body.note,
                retention=settings.review_retention,
                refusal=body.refusal,
            )
    except ReviewError as exc:
        raise _refused(exc) from None
    except ValueError as exc:
        field, _, problem = str(exc).partition(": ")
        raise InputError([FieldError((field,), problem or str(exc))]) from None
    log.info("%d escalations resolved %s at once by key %s", len(views), body.decision, key.id)
    return [review_item(view) for view in views]


@router.get("/{escalation_id}", response_model=ReviewDetail, responses={404: _REFUSALS[404]})
def read_review(escalation_id: uuid.UUID, session: SessionDep, key: ReviewerKey) -> ReviewDetail:
    """One escalation with its audit trail."""
    try:
        view = get_review(session=session, escalation_id=escalation_id)
    except ReviewNotFound as exc:
        raise _refused(exc) from None
    return review_detail(view, review_trail(session=session, escalation_id=escalation_id))


@router.post("/{escalation_id}/claim", response_model=ReviewItem, responses=_REFUSALS)
def claim(
    escalation_id: uuid.UUID, key: ReviewerKey, factory: FactoryDep, settings: SettingsDep
) -> ReviewItem:
    """Hold the item for GUARDQ_REVIEW_LEASE_S seconds (``lease_expires_at``); claiming
    it again renews the lease."""
    item = _act(
        factory,
        lambda session: claim_review(
            session=session,
            escalation_id=escalation_id,
            reviewer_key_id=key.id,
            lease=timedelta(seconds=settings.review_lease_s),
        ),
    )
    log.info("escalation %s claimed by key %s", escalation_id, key.id)
    return item


@router.post("/{escalation_id}/resolve", response_model=ReviewItem, responses=_REFUSALS)
def resolve(
    escalation_id: uuid.UUID,
    body: ReviewResolve,
    key: ReviewerKey,
    factory: FactoryDep,
    settings: SettingsDep,
) -> ReviewItem:
    """Decide the item you hold: Safe, Controversial or Unsafe, with categories, a note
    and, for a response-mode item, whether the response refuses (``refusal``). When the
    item needs more agreeing decisions it goes back to the queue for another reviewer
    (``decisions_made`` of ``decisions_required``); a disagreement marks it ``disputed``
    for a lead. Once resolved, its text is kept for GUARDQ_REVIEW_RETENTION more."""
    item = _act(
        factory,
        lambda session: resolve_review(
            session=session,
            escalation_id=escalation_id,
            reviewer_key_id=key.id,
            decision=body.decision,
            categories=body.categories,
            note=body.note,
            retention=settings.review_retention,
            refusal=body.refusal,
        ),
    )
    log.info("escalation %s resolved %s by key %s", escalation_id, body.decision, key.id)
    return item


@router.post("/{escalation_id}/release", response_model=ReviewItem, responses=_REFUSALS)
def release(escalation_id: uuid.UUID, key: ReviewerKey, factory: FactoryDep) -> ReviewItem:
    """Give the item you hold back to the queue."""
    item = _act(
        factory,
        lambda session: release_review(
            session=session, escalation_id=escalation_id, reviewer_key_id=key.id
        ),
    )
    log.info("escalation %s released by key %s", escalation_id, key.id)
    return item
