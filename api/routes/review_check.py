"""The check page at ``/review/check``: a reviewer pastes a text (or a prompt and a
response) and sees the verdict, the policy's action and, on a long text, the deciding
window highlighted.

The text goes the way any realtime item goes: a job of one item under the reviewer's
key, judged by the workers (or the cache) and recorded in the audit store, its answer
awaited over Redis as ``POST /v1/moderations`` awaits it. Nothing is kept of the text
unless the policy escalates it, or the reviewer sends it to the queue ("Send to
queue"), which opens an escalation with the text as the reviewer pasted it: the form
sends the text back, and it must hash to the judged item's content.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select

from api import review_views as views
from api.errors import InputError
from api.review_web import PREFIX, FormReviewerDep, PageError, ReviewerDep, redirect, render
from api.routes.moderations import wait_for_answers
from api.schemas import JobCreate, JobItemIn
from api.submission import submit
from api.validation import job_items
from guardq.hashing import content_sha256, pair_sha256
from guardq.policy import reason_kind
from guardq.store.db import session_scope
from guardq.store.enums import Priority
from guardq.store.escalations import create_escalation
from guardq.store.models import Escalation, Item, Job, VerdictRecord
from guardq.store.verdicts import StoredVerdict
from guardq.verdict import Category, Mode, Verdict

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _page(request: Request, reviewer, status_code: int = 200, **context) -> Response:
    context.setdefault("text", "")
    context.setdefault("prompt", "")
    context.setdefault("mode", "prompt")
    return render(request, "check.html", reviewer, status_code, **context)


@router.get("/check")
def check_form(request: Request, reviewer: ReviewerDep) -> Response:
    return _page(request, reviewer)


def _items(mode: str, text: str, prompt: str, request: Request):
    """The pasted content as one validated item, with the same limits as the API."""
    if mode == "response":
        body = JobCreate(mode=Mode.RESPONSE, items=[JobItemIn(prompt=prompt, response=text)])
    else:
        body = JobCreate(mode=Mode.PROMPT, items=[JobItemIn(text=text)])
    return body.mode, job_items(body, request.app.state.settings)


def _result(verdict: StoredVerdict, text: str) -> dict:
    """What the page shows of the verdict."""
    probabilities = None
    if verdict.scores is not None:
        probabilities = [
            ("Safe", verdict.scores.safe),
            ("Controversial", verdict.scores.controversial),
            ("Unsafe", verdict.scores.unsafe),
        ]
    span = verdict.span
    marked = views.marked_text(text, span.start, span.end) if span else None
    return dict(
        severity_label=verdict.severity.value if verdict.severity else "unparsed output",
        severity_class=verdict.severity.value.lower() if verdict.severity else "unparsed",
        categories=[c.value for c in verdict.categories],
        refusal=verdict.refusal,
        probabilities=probabilities,
        action=verdict.action.value,
        reason=verdict.reason,
        model_id=verdict.model_id,
        model_error=verdict.error,
        chunk_count=verdict.chunk_count,
        served_from_cache=verdict.served_from_cache,
        # A window short of the whole text is worth pointing at.
        span=marked if marked and (marked.start, marked.end) != (0, len(text)) else None,
    )


@router.post("/check")
async def check(
    request: Request,
    reviewer: FormReviewerDep,
    mode: Annotated[str, Form()] = "prompt",
    text: Annotated[str, Form()] = "",
    prompt: Annotated[str, Form()] = "",
) -> Response:
    """Judge the pasted content through the realtime path and show the verdict."""
    mode = "response" if mode == "response" else "prompt"
    echo = dict(text=text, prompt=prompt, mode=mode)
    try:
        job_mode, items = _items(mode, text, prompt, request)
    except InputError as exc:
        return _page(request, reviewer, 422, error=f"{exc}.", **echo)
    state = request.app.state
    job = await run_in_threadpool(
        submit,
        state,
        mode=job_mode,
        priority=Priority.REALTIME,
        items=items,
        callback_url=None,
        api_key_id=reviewer.key.id,
    )
    rows = await wait_for_answers(state, job, state.settings.moderation_timeout_s)
    if rows is None or rows[0].verdict is None:
        why = "no verdict came in time" if rows is None else f"it failed: {rows[0].error}"
        return _page(
            request,
            reviewer,
            504 if rows is None else 502,
            error=f"The text was submitted (job {job.id}) but {why}.",
            **echo,
        )
    item = rows[0]
    escalated = await run_in_threadpool(_escalation_of, request, item.item_id)
    return _page(
        request,
        reviewer,
        result=_result(item.verdict, text),
        item_id=item.item_id,
        job_id=job.id,
        escalated=escalated,
        **echo,
    )


def _escalation_of(request: Request, item_id: uuid.UUID) -> uuid.UUID | None:
    with session_scope(request.app.state.session_factory) as session:
        return session.scalar(select(Escalation.id).where(Escalation.item_id == item_id))


@router.post("/check/send")
def send_to_queue(
    request: Request,
    reviewer: FormReviewerDep,
    item_id: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    prompt: Annotated[str, Form()] = "",
) -> Response:
    """Open an escalation for an item this reviewer checked, with its text."""
    try:
        item_uuid = uuid.UUID(item_id)
    except ValueError:
        raise PageError(422, f"item_id: not an id, got {item_id[:40]!r}.") from None
    policy = request.app.state.settings.policy
    with session_scope(request.app.state.session_factory) as session:
        row = session.execute(
            select(Item.content_sha256, Job.mode, Job.api_key_id, VerdictRecord)
            .join(Job, Job.id == Item.job_id)
            .join(VerdictRecord, VerdictRecord.item_id == Item.id)
            .where(Item.id == item_uuid)
        ).first()
        if row is None or row.api_key_id != reviewer.key.id:
            raise PageError(404, f"There is no checked item {item_uuid} of yours.")
        sha256 = content_sha256(text) if row.mode is Mode.PROMPT else pair_sha256(prompt, text)
        if sha256 != row.content_sha256:
            raise PageError(422, "The text sent back is not the text that was checked.")
        verdict = row.VerdictRecord
        judged = Verdict(
            severity=verdict.severity,
            categories=tuple(Category(c) for c in verdict.categories),
            error=verdict.error,
        )
        reason = f"sent to review by {reviewer.key.name} from the check page"
        escalation_id = create_escalation(
            session=session,
            item_id=item_uuid,
            verdict_id=verdict.id,
            reason=reason,
            retained_text=text,
            retained_prompt=prompt if row.mode is Mode.RESPONSE else None,
            decisions=policy.review.required(judged),
            due_in=policy.review.due_in(reason_kind(reason)),
        )
    if escalation_id is None:
        raise PageError(409, "That item is in the review queue already.")
    return redirect(request, f"/items/{escalation_id}", notice="sent")
