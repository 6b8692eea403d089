"""The reviewer page at ``/review``: the queue and one item, over the review store.

Every action is a plain form POST (claim, decide, release) answered with a redirect,
so the page works without JavaScript; ``static/review.js`` only adds the keyboard
shortcuts and the live lease countdown. The routes call the same store functions as
the JSON API (``guardq.store.reviews``), so the page and the API share every rule and
every audit-trail row.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import Response

from api import review_views as views
from api.review_session import ReviewSession
from api.review_web import (
    PREFIX,
    FormReviewerDep,
    PageError,
    ReviewerDep,
    install_page_support,
    redirect,
    render,
)
from api.routes import review_check, review_login
from guardq.inputs import unstorable
from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus
from guardq.store.models import utcnow
from guardq.store.review_errors import ReviewError, ReviewNotFound
from guardq.store.reviews import (
    LEAD_ROLES,
    UNPARSED,
    claim_review,
    get_review,
    list_reviews,
    release_review,
    resolve_review,
    resolve_reviews,
)
from guardq.verdict import Category, Severity

QUEUE_LIMIT = 50
ORDERS = ("oldest", "priority", "due")
NOTE_LIMIT = 2000

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _factory(request: Request):
    return request.app.state.session_factory


def _claim(request: Request, reviewer: ReviewSession, escalation_id: uuid.UUID) -> None:
    lease = timedelta(seconds=request.app.state.settings.review_lease_s)
    with session_scope(_factory(request)) as session:
        claim_review(
            session=session,
            escalation_id=escalation_id,
            reviewer_key_id=reviewer.key.id,
            lease=lease,
        )


def _takes(reviewer: ReviewSession) -> dict:
    """What ``list_reviews`` needs to show this reviewer only what they may take."""
    return dict(reviewer_key_id=reviewer.key.id, leads=reviewer.key.role in LEAD_ROLES)


def _filters(category: str, severity: str, order: str) -> dict:
    """The queue's filters from their form values; an unknown value is refused by name."""
    try:
        chosen_severity = Severity(severity) if severity not in ("", UNPARSED) else severity
        return dict(
            category=Category(category) if category else None,
            severity=chosen_severity or None,
            order=order if order in ORDERS else "oldest",
        )
    except ValueError as exc:
        raise PageError(422, f"Unknown filter value: {exc}.") from None


@router.get("")
def queue(
    request: Request,
    reviewer: ReviewerDep,
    category: Annotated[str, Query()] = "",
    severity: Annotated[str, Query()] = "",
    order: Annotated[str, Query()] = "oldest",
    after: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    filters = _filters(category, severity, order)
    now = utcnow()
    try:
        with session_scope(_factory(request)) as session:
            found = list_reviews(
                session=session,
                limit=QUEUE_LIMIT + 1,
                after=after,
                now=now,
                **filters,
                **_takes(reviewer),
            )
            held = list_reviews(session=session, status=EscalationStatus.CLAIMED, now=now)
    except ValueError as exc:  # an ``after`` that names no escalation
        raise PageError(422, f"{exc}.") from None
    rows = [views.queue_row(v, now) for v in found[:QUEUE_LIMIT]]
    more = len(found) > QUEUE_LIMIT
    return render(
        request,
        "queue.html",
        reviewer,
        rows=rows,
        next_page=(
            urlencode(dict(category=category, severity=severity, order=order, after=rows[-1]["id"]))
            if more
            else None
        ),
        mine=[views.queue_row(v, now) for v in held if v.claimed_by == reviewer.key.id],
        category=category,
        severity=severity,
        order=filters["order"],
        categories=list(Category),
        severities=[*(s.value for s in Severity), UNPARSED],
        decision_buttons=views.DECISION_KEYS,
    )


@router.post("/claim-next")
def claim_next(
    request: Request,
    reviewer: FormReviewerDep,
    category: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    order: Annotated[str, Form()] = "oldest",
) -> Response:
    """Claim the first open item under the queue's filters, skipping those that other
    reviewers take meanwhile."""
    with session_scope(_factory(request)) as session:
        candidates = list_reviews(
            session=session, limit=10, **_filters(category, severity, order), **_takes(reviewer)
        )
    for candidate in candidates:
        try:
            _claim(request, reviewer, candidate.id)
        except ReviewError:
            continue
        return redirect(request, f"/items/{candidate.id}", claimed="1")
    return redirect(request, notice="empty")


def _item_page(
    request: Request,
    reviewer: ReviewSession,
    escalation_id: uuid.UUID,
    *,
    was_mine: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    try:
        with session_scope(_factory(request)) as session:
            view = get_review(session=session, escalation_id=escalation_id, now=now)
    except ReviewNotFound:
        raise PageError(404, f"There is no escalation {escalation_id}.") from None
    return render(
        request,
        "item.html",
        reviewer,
        status_code,
        item=views.item_page(view, reviewer.key.id, now, was_mine=was_mine),
        error=error,
        category_choices=views.category_choices(view.mode),
        decision_buttons=views.DECISION_KEYS,
        refusal_choices=views.REFUSAL_CHOICES,
        note_limit=NOTE_LIMIT,
    )


@router.get("/items/{escalation_id}")
def item(
    request: Request,
    escalation_id: uuid.UUID,
    reviewer: ReviewerDep,
    claimed: Annotated[str, Query()] = "",
) -> Response:
    # claimed=1 marks the page a claim led to: if the item reads open again, it was this
    # reviewer's lease that ran out, and the page says so.
    return _item_page(request, reviewer, escalation_id, was_mine=claimed == "1")


@router.post("/items/{escalation_id}/claim")
def claim(request: Request, escalation_id: uuid.UUID, reviewer: FormReviewerDep) -> Response:
    try:
        _claim(request, reviewer, escalation_id)
    except ReviewError as refusal:
        return _item_page(request, reviewer, escalation_id, error=str(refusal), status_code=409)
    return redirect(request, f"/items/{escalation_id}", claimed="1")


@router.post("/items/{escalation_id}/decide")
def decide(
    request: Request,
    escalation_id: uuid.UUID,
    reviewer: FormReviewerDep,
    decision: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form()] = "",
    refusal: Annotated[str, Form()] = "",
) -> Response:
    """Record the decision; the store refuses it unless this reviewer's lease is live."""
    try:
        severity = Severity(decision)
        chosen = [Category(c) for c in categories or ()]
        refuses = views.form_refusal(refusal)
        if len(note) > NOTE_LIMIT:
            raise ValueError(f"note: {len(note)} characters, at most {NOTE_LIMIT}")
        if problem := unstorable(note):
            raise ValueError(f"note: {problem[0]}")
        with session_scope(_factory(request)) as session:
            resolve_review(
                session=session,
                escalation_id=escalation_id,
                reviewer_key_id=reviewer.key.id,
                decision=severity,
                # Ticked boxes stay ticked on a Safe press; Safe names no category.
                categories=[] if severity is Severity.SAFE else chosen,
                note=note.strip() or None,
                retention=request.app.state.settings.review_retention,
                refusal=refuses,
            )
    except ReviewError as refused:
        return _item_page(
            request, reviewer, escalation_id, was_mine=True, error=str(refused), status_code=409
        )
    except ValueError as exc:
        # A ValueError from the store (categories that do not fit the decision, a refusal
        # on a prompt) is the reviewer's to fix, like a bad form value.
        return _item_page(request, reviewer, escalation_id, error=f"{exc}.", status_code=422)
    return redirect(request, notice="decided")


@router.post("/bulk-decide")
def bulk_decide(
    request: Request,
    reviewer: FormReviewerDep,
    ids: Annotated[list[str] | None, Form()] = None,
    decision: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Decide the ticked items of "Claimed by you" at once: all or none."""
    try:
        chosen_ids = [uuid.UUID(value) for value in ids or ()]
        severity = Severity(decision)
        chosen = [Category(c) for c in categories or ()]
        with session_scope(_factory(request)) as session:
            resolve_reviews(
                session=session,
                escalation_ids=chosen_ids,
                reviewer_key_id=reviewer.key.id,
                decision=severity,
                categories=[] if severity is Severity.SAFE else chosen,
                note=None,
                retention=request.app.state.settings.review_retention,
            )
    except ReviewError as refused:
        raise PageError(409, f"{refused}.") from None
    except ValueError as exc:
        raise PageError(422, f"{exc}.") from None
    return redirect(request, notice="bulk-decided")


@router.post("/items/{escalation_id}/release")
def release(request: Request, escalation_id: uuid.UUID, reviewer: FormReviewerDep) -> Response:
    try:
        with session_scope(_factory(request)) as session:
            release_review(
                session=session, escalation_id=escalation_id, reviewer_key_id=reviewer.key.id
            )
    except ReviewError as refusal:
        return _item_page(
            request, reviewer, escalation_id, was_mine=True, error=str(refusal), status_code=409
        )
    return redirect(request, notice="released")


def install(app: FastAPI) -> None:
    """Add the reviewer page (login, queue, items, the check page, static files) to ``app``."""
    install_page_support(app)
    app.include_router(review_login.router)
    app.include_router(review_check.router)
    app.include_router(router)
