"""Escalations and reviewer keys for the review workflow tests (store and API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guardq.policy import Action, Decision, Policy
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.jobs import NewItem, create_job
from guardq.store.keys import create_api_key
from guardq.store.reviews import claim_review, resolve_review
from guardq.store.verdicts import record_verdict
from guardq.verdict import Category, Mode, Severity, SeverityScores, Span, Verdict

# Far enough ahead of the rows' real creation times that injected clocks never run
# behind them.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
LEASE = timedelta(minutes=5)
RETENTION = timedelta(days=7)


def verdict(
    severity: Severity | None,
    *categories: Category,
    error: str | None = None,
    refusal: bool | None = None,
):
    if severity is None:
        return Verdict(severity=None, error=error or "no Safety line")
    return Verdict(
        severity=severity,
        categories=tuple(categories),
        refusal=refusal,
        scores=SeverityScores(safe=0.1, controversial=0.6, unsafe=0.3),
        span=Span(0, 4),
    )


def escalate(
    factory,
    severity: Severity | None = Severity.CONTROVERSIAL,
    *categories: Category,
    text: str = "some text",
    prompt: str | None = None,
    retain: bool = True,
    sampled: bool = False,
    refusal: bool | None = None,
    decisions: int = 1,
    due_in: timedelta | None = None,
    policy: Policy | None = None,
):
    """One job of one item, judged ``severity`` and escalated; the escalation's id.

    A ``prompt`` makes it a response-mode item; ``refusal`` is then the model's reading.
    ``decisions`` and ``due_in`` are the review terms; a ``policy`` decides all of the
    item's terms instead (and must escalate it).
    """
    if severity is not None and severity is not Severity.SAFE and not categories:
        categories = (Category.POLITICAL,)
    mode = Mode.RESPONSE if prompt is not None else Mode.PROMPT
    action = Action.BLOCK if sampled else Action.REVIEW
    judged = verdict(severity, *categories, refusal=refusal)
    if policy is not None:
        decision = policy.decide(judged, "0" * 64 if sampled else None)
        assert decision.escalates
    else:
        reason = f"severity {severity}"
        decision = Decision(action, reason, sampled, decisions=decisions, due_in=due_in)
    with session_scope(factory) as session:
        job = create_job(
            session=session,
            mode=mode,
            items=[NewItem(text=text, prompt=prompt, ref="ref-1")],
            model_id="demo",
            retain_text=retain,
        )
        outcome = record_verdict(
            session=session,
            item_id=job.items[0].id,
            verdict=judged,
            decision=decision,
            model_id="demo",
            review_text=text if retain else None,
            review_prompt=prompt if retain else None,
        )
    return outcome.escalation_id


def reviewer(factory, name: str = "alice", role: KeyRole = KeyRole.REVIEWER):
    """A reviewer key's id."""
    with session_scope(factory) as session:
        return create_api_key(session=session, name=name, role=role).info.id


def claim(factory, escalation_id, key_id, now=T0, lease=LEASE):
    with session_scope(factory) as session:
        return claim_review(
            session=session,
            escalation_id=escalation_id,
            reviewer_key_id=key_id,
            lease=lease,
            now=now,
        )


def resolve(
    factory,
    escalation_id,
    key_id,
    decision=Severity.SAFE,
    categories=(),
    now=T0,
    note=None,
    refusal=None,
    retention=RETENTION,
):
    with session_scope(factory) as session:
        return resolve_review(
            session=session,
            escalation_id=escalation_id,
            reviewer_key_id=key_id,
            decision=decision,
            categories=list(categories),
            note=note,
            retention=retention,
            refusal=refusal,
            now=now,
        )


def decide(
    factory,
    escalation_id,
    key_id,
    decision,
    categories=(),
    *,
    now=None,
    retention=RETENTION,
    refusal=None,
):
    """Claim and resolve, at ``now`` (the real clock when None)."""
    claim(factory, escalation_id, key_id, now=now)
    later = None if now is None else now + timedelta(seconds=1)
    return resolve(
        factory,
        escalation_id,
        key_id,
        decision,
        categories,
        now=later,
        refusal=refusal,
        retention=retention,
    )
