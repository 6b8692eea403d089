"""Alerts: a signed event POSTed for every item whose action is block, to the job's
``alert_url`` or else the deployment's ``GUARDQ_ALERT_URL``.

1. After a commit, ``alert_notifier`` (a ``guardq.recording.Notify``, so it hears only
   what is committed, and after the realtime answers) takes the recorded items whose
   action is block, reads their refs and their jobs' alert URLs in one query, and
   queues one ``guardq.send_alert`` task per event on the callbacks queue. The verdict
   never waits for an alert, and a failure to queue is logged, never raised.
2. The model-free callbacks worker (``worker.alerts``) checks the URL again
   (``guardq.outbound``), signs the body (``guardq.signing``) and POSTs it, retrying
   with backoff.

With an author policy, the same notice also reports each new author hold: when the
committed verdicts include strikes (``guardq.authors``), it finds the authors of those
items whose hold began since it was last reported (``record_new_holds``: a ``held`` trail
row per hold, under a per-author lock) and queues one ``author.held`` event per hold,
to the alert URL of the job whose item made the strike, or else the deployment's; an
author whose items have neither is not reported. The event names the author by hash.

An event is a plain JSON object: ``event(type, key, **fields)`` gives it a stable id
and a time, and ``queue_alerts`` sends any list of them. Events carry ids, hashes, the
verdict and the reason, never content. Delivery is at least once: a receiver drops an
event id it has seen. A worker killed between its commit and the enqueue loses that
batch's alerts (the verdicts stay, and can be read through the API). Hold events are
queued before their ``held`` rows commit, so a failure there leaves the hold to be
reported with the author's next strike.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guardq.authors import AuthorPolicy, HoldState
from guardq.policy import Action
from guardq.queue import SEND_ALERT
from guardq.recording import Judged, Notify
from guardq.store.authors import record_new_holds
from guardq.store.db import session_scope
from guardq.store.models import Escalation, Item, Job, utcnow
from guardq.store.verdicts import NewVerdict

log = logging.getLogger(__name__)

ITEM_BLOCKED = "item.blocked"
AUTHOR_HELD = "author.held"
REVIEW_OVERDUE = "review.overdue"
_EVENT_IDS = uuid.UUID("1b2f0e0c-6a51-4c4e-9a0e-2f4b7c6d9e31")


def event(kind: str, key: str, **fields: Any) -> dict[str, Any]:
    """An event of type ``kind``; ``key`` names what it is about (an item id), so that
    the same event queued twice has the same id."""
    return {
        "id": f"evt_{uuid.uuid5(_EVENT_IDS, f'{kind}:{key}').hex}",
        "type": kind,
        "created_at": utcnow().isoformat(),
        **fields,
    }


def blocked_item_event(judged: Judged, stored: NewVerdict, ref: str | None) -> dict[str, Any]:
    """The ``item.blocked`` event of one recorded item: ids, hash, verdict, reason."""
    verdict = stored.verdict
    return event(
        ITEM_BLOCKED,
        str(judged.item_id),
        job_id=str(judged.job_id),
        item_id=str(judged.item_id),
        ref=ref,
        mode=judged.mode.value,
        content_sha256=judged.sha256,
        severity=verdict.severity.value if verdict.severity else None,
        categories=[category.value for category in verdict.categories],
        refusal=verdict.refusal,
        action=stored.decision.action.value,
        reason=stored.decision.reason,
        model=stored.model_id,
    )


def author_held_event(
    author: tuple[str, str | None], state: HoldState, policy: AuthorPolicy, judged: Judged
) -> dict[str, Any]:
    """The ``author.held`` event of a new hold: the author's hash (never the id), the
    strikes, since and until when, and the item whose strike put them on hold."""
    assert state.held_since is not None and state.hold_until is not None
    author_hash, previous = author
    return event(
        AUTHOR_HELD,
        f"{author_hash}:{state.held_since.isoformat()}",
        author_hash=author_hash,
        author_hash_previous=previous,
        strikes=state.strikes,
        threshold=policy.unsafe_strikes,
        held_since=state.held_since.isoformat(),
        hold_until=state.hold_until.isoformat(),
        on_hold=policy.on_hold,
        job_id=str(judged.job_id),
        item_id=str(judged.item_id),
    )


def queue_overdue_alerts(
    app: Celery,
    session: Session,
    late: Sequence[tuple[uuid.UUID, datetime]],
    deployment_url: str | None,
) -> int:
    """Queue a ``review.overdue`` event for each of ``late`` ((escalation id, due time):
    escalations newly past their review deadline) whose job has an alert URL, or for
    all of them when ``deployment_url`` is set; how many. The event carries the ids, the
    content hash, the escalation's reason and the deadline, never text.

    Call it in the transaction that marks them reported, before it commits: a failure to
    queue then rolls the marks back, and the next run reports them again (same ids)."""
    if not late:
        return 0
    due = dict(late)
    rows = session.execute(
        select(
            Escalation.id,
            Escalation.item_id,
            Escalation.reason,
            Item.job_id,
            Item.ref,
            Item.content_sha256,
            Job.alert_url,
        )
        .join(Item, Item.id == Escalation.item_id)
        .join(Job, Job.id == Item.job_id)
        .where(Escalation.id.in_(list(due)))
        .order_by(Escalation.id)
    ).all()
    by_url: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        if row.alert_url is None and deployment_url is None:
            continue
        at = due[row.id].isoformat()
        by_url.setdefault(row.alert_url, []).append(
            event(
                REVIEW_OVERDUE,
                f"{row.id}:{at}",
                escalation_id=str(row.id),
                item_id=str(row.item_id),
                job_id=str(row.job_id),
                ref=row.ref,
                content_sha256=row.content_sha256,
                reason=row.reason,
                due_at=at,
            )
        )
    for url, events in by_url.items():
        queue_alerts(app, events, url)
    return sum(len(events) for events in by_url.values())


def queue_alerts(app: Celery, events: Sequence[dict[str, Any]], url: str | None = None) -> None:
    """Queue ``events`` for the callbacks worker; ``url`` None: the deployment's
    ``GUARDQ_ALERT_URL`` (read by the worker when it sends)."""
    if not events:
        return
    with app.producer_or_acquire() as producer:
        for one in events:
            app.send_task(
                SEND_ALERT,
                kwargs={"event": one, "url": url},
                producer=producer,
                ignore_result=True,
            )


def alert_notifier(
    *,
    app: Celery,
    session_factory: sessionmaker[Session],
    deployment_url: str | None,
    authors: AuthorPolicy | None = None,
) -> Notify:
    """A ``Notify`` that queues an ``item.blocked`` event for each recorded blocked item
    whose job has an alert URL, or for all of them when ``deployment_url`` is set; with
    ``authors`` (the policy's), an ``author.held`` event for each new hold."""

    def notify(recorded: Sequence[tuple[Judged, NewVerdict | None]]) -> None:
        _blocked_alerts(recorded)
        if authors is not None:
            _hold_alerts(recorded, authors)

    def _blocked_alerts(recorded: Sequence[tuple[Judged, NewVerdict | None]]) -> None:
        blocked = [
            (judged, stored)
            for judged, stored in recorded
            if stored is not None and stored.decision.action is Action.BLOCK
        ]
        if not blocked:
            return
        try:
            with session_scope(session_factory) as session:
                rows = session.execute(
                    select(Item.id, Item.ref, Job.alert_url)
                    .join(Job, Job.id == Item.job_id)
                    .where(Item.id.in_([judged.item_id for judged, _ in blocked]))
                ).all()
            found = {row.id: row for row in rows}
            by_url: dict[str | None, list[dict[str, Any]]] = {}
            for judged, stored in blocked:
                row = found.get(judged.item_id)
                if row is None or (row.alert_url is None and deployment_url is None):
                    continue
                by_url.setdefault(row.alert_url, []).append(
                    blocked_item_event(judged, stored, row.ref)
                )
            for url, events in by_url.items():
                queue_alerts(app, events, url)
        except Exception as exc:
            # The verdicts are committed: an alert lost is logged, the batch goes on.
            log.error("%d alert(s) not queued: %s", len(blocked), type(exc).__name__)
            return
        queued = sum(len(events) for events in by_url.values())
        if queued:
            log.info("%d alert(s) queued", queued)

    def _hold_alerts(
        recorded: Sequence[tuple[Judged, NewVerdict | None]], policy: AuthorPolicy
    ) -> None:
        strikes = {
            judged.item_id: judged
            for judged, stored in recorded
            if stored is not None and stored.verdict.severity in policy.strike_severities
        }
        if not strikes:
            return
        try:
            with session_scope(session_factory) as session:
                rows = session.execute(
                    select(Item.id, Item.author_hash, Item.author_hash_previous, Job.alert_url)
                    .join(Job, Job.id == Item.job_id)
                    .where(Item.id.in_(list(strikes)), Item.author_hash.is_not(None))
                    .order_by(Item.id)
                ).all()
                struck = _by_author(
                    [row for row in rows if row.alert_url is not None or deployment_url]
                )
                new = record_new_holds(
                    session=session,
                    authors={author: hashes for author, (hashes, _) in struck.items()},
                    policy=policy,
                    now=utcnow(),
                )
                by_url: dict[str | None, list[dict[str, Any]]] = {}
                for author, state in new.items():
                    row = struck[author][1]
                    by_url.setdefault(row.alert_url, []).append(
                        author_held_event(author, state, policy, strikes[row.id])
                    )
                # Queued before the ``held`` rows commit: if the queueing fails, they
                # roll back and the next strike reports the hold again (same event id).
                for url, events in by_url.items():
                    queue_alerts(app, events, url)
        except Exception as exc:
            # The verdicts are committed: a hold stays in force unreported; logged.
            log.error("author hold alerts not queued: %s", type(exc).__name__)
            return
        if new:
            log.info("%d new author hold(s) alerted", len(new))

    return notify


def _by_author(rows: Sequence[Any]) -> dict[tuple[str, str | None], tuple[frozenset[str], Any]]:
    """The struck items' authors: (hash, previous hash) -> (every hash the author is
    known by in these rows, the row whose job's alert URL gets the event: the first with
    one). Rows sharing a hash are one author (a rotation in progress)."""
    groups: list[tuple[set[str], list[Any]]] = []
    for row in rows:
        hashes = {row.author_hash, row.author_hash_previous} - {None}
        joined = [g for g in groups if g[0] & hashes]
        merged: tuple[set[str], list[Any]] = (hashes, [row])
        for group in joined:
            groups.remove(group)
            merged[0].update(group[0])
            merged[1].extend(group[1])
        groups.append(merged)
    authors = {}
    for hashes, members in groups:
        # The newest pair names the author: one with a previous hash was hashed by an
        # API process that had both secrets.
        named = max(members, key=lambda r: r.author_hash_previous is not None)
        target = next((r for r in members if r.alert_url is not None), members[0])
        authors[(named.author_hash, named.author_hash_previous)] = (frozenset(hashes), target)
    return authors


def with_alerts(notify: Notify | None, alerts: Notify | None) -> Notify | None:
    """``notify`` (the realtime answers), then ``alerts``: both after the commit."""
    if alerts is None or notify is None:
        return notify or alerts

    def both(recorded: Sequence[tuple[Judged, NewVerdict | None]]) -> None:
        notify(recorded)
        alerts(recorded)

    return both
