"""Escalations and a logged-in browser session for the reviewer page's tests."""

from __future__ import annotations

import re

from guardq.policy import Action, Decision
from guardq.store.db import session_scope
from guardq.store.jobs import NewItem, create_job
from guardq.store.verdicts import record_verdict
from guardq.verdict import Category, Mode, Severity, SeverityScores, Span, Verdict

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def escalate(
    factory,
    text: str = "some text to review",
    *,
    severity: Severity | None = Severity.CONTROVERSIAL,
    categories: tuple[Category, ...] = (Category.POLITICAL,),
    span: tuple[int, int] | None = None,
    scores: tuple[float, float, float] | None = (0.1, 0.6, 0.3),
    retain: bool = True,
    ref: str | None = "ref-1",
    prompt: str | None = None,
    refusal: bool | None = None,
):
    """One job of one item, judged ``severity``, escalated for review; the escalation id.

    A ``prompt`` makes it a response-mode item (``text`` the response); ``refusal`` is
    then the model's reading.
    """
    if severity is None:
        verdict = Verdict(severity=None, error="no Safety line")
    else:
        verdict = Verdict(
            severity=severity,
            categories=categories,
            refusal=refusal,
            scores=SeverityScores(*scores) if scores else None,
            span=Span(*span) if span else None,
        )
    with session_scope(factory) as session:
        job = create_job(
            session=session,
            mode=Mode.PROMPT if prompt is None else Mode.RESPONSE,
            items=[NewItem(text=text, prompt=prompt, ref=ref)],
            model_id="demo",
            retain_text=retain,
        )
        outcome = record_verdict(
            session=session,
            item_id=job.items[0].id,
            verdict=verdict,
            decision=Decision(Action.REVIEW, f"severity {severity or 'unparsed'}"),
            model_id="demo",
            review_text=text if retain else None,
            review_prompt=prompt if retain else None,
        )
    return outcome.escalation_id


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def log_in(client, key: str):
    """Log ``client`` in with ``key`` as a browser would: open the form, post it."""
    form = client.get("/review/login")
    return client.post(
        "/review/login",
        data={"api_key": key, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
