"""Realtime answers over Redis: whoever records a realtime job's verdicts pushes them,
after the commit, to a list the waiting API request pops (``BLPOP``), instead of the
request polling the store.

A list, not pub/sub: an answer pushed before the request starts waiting is still
there. Each entry is one commit's worth of one job's items, as JSON: item id -> the
stored verdict's fields (or ``{"error": ...}`` for an item that failed). Ids and
verdict fields only, never content. Entries expire after ``ANSWER_TTL_S``, so answers
nobody waits for (the request timed out, the client went away) do not pile up.

An item whose verdict another delivery recorded earlier is not pushed again: the
waiting side also reads the store when no answer comes for a while.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from guardq.policy import Action
from guardq.recording import Judged, Notify
from guardq.store.models import utcnow
from guardq.store.verdicts import NewVerdict, StoredVerdict
from guardq.verdict import Category, Severity, SeverityScores, Span

log = logging.getLogger(__name__)

ANSWER_TTL_S = 300


def answer_key(job_id: uuid.UUID) -> str:
    return f"guardq:answers:{job_id}"


def publish(redis: Any, recorded: Sequence[tuple[Judged, NewVerdict | None]]) -> None:
    """Push the realtime items of ``recorded`` (``guardq.recording.Notify``), one list
    entry per job, in one round trip. ``redis`` is a synchronous ``redis.Redis``."""
    by_job: dict[uuid.UUID, dict[str, Any]] = {}
    for judged, stored in recorded:
        if judged.realtime:
            by_job.setdefault(judged.job_id, {})[str(judged.item_id)] = _fields(judged, stored)
    if not by_job:
        return
    with redis.pipeline(transaction=False) as pipe:
        for job_id, answers in by_job.items():
            key = answer_key(job_id)
            pipe.rpush(key, json.dumps(answers, separators=(",", ":")))
            pipe.expire(key, ANSWER_TTL_S)
        pipe.execute()


def notifier(redis: Any) -> Notify:
    """A ``guardq.recording.Notify`` that publishes to ``redis`` and never raises: the
    verdicts are committed by then, and a waiting request also finds them in the store."""

    def notify(recorded: Sequence[tuple[Judged, NewVerdict | None]]) -> None:
        try:
            publish(redis, recorded)
        except RedisError as exc:
            log.warning("realtime answers not pushed: %s", type(exc).__name__)

    return notify


def read_answers(entry: bytes | str) -> dict[uuid.UUID, StoredVerdict | str]:
    """One list entry: item id -> its verdict, or the reason it has none."""
    return {uuid.UUID(item_id): _stored(fields) for item_id, fields in json.loads(entry).items()}


def _fields(judged: Judged, stored: NewVerdict | None) -> dict[str, Any]:
    if stored is None:
        return {"error": judged.error or "the store refused its verdict"}
    verdict, scores, span = stored.verdict, stored.verdict.scores, stored.verdict.span
    return {
        "severity": verdict.severity.value if verdict.severity else None,
        "categories": [category.value for category in verdict.categories],
        "refusal": verdict.refusal,
        "scores": [scores.safe, scores.controversial, scores.unsafe] if scores else None,
        "span": [span.start, span.end] if span else None,
        "action": stored.decision.action.value,
        "reason": stored.decision.reason,
        "model_id": stored.model_id,
        "chunk_count": stored.chunk_count or max(1, len(verdict.chunks)),
        "latency_ms": stored.latency_ms,
        "served_from_cache": stored.served_from_cache,
        "model_error": verdict.error,
    }


def _stored(fields: dict[str, Any]) -> StoredVerdict | str:
    if "error" in fields:
        return fields["error"]
    scores, span = fields["scores"], fields["span"]
    return StoredVerdict(
        severity=Severity(fields["severity"]) if fields["severity"] else None,
        categories=tuple(Category(name) for name in fields["categories"]),
        refusal=fields["refusal"],
        scores=SeverityScores(*scores) if scores else None,
        span=Span(*span) if span else None,
        action=Action(fields["action"]),
        reason=fields["reason"],
        model_id=fields["model_id"],
        model_revision=None,
        chunk_count=fields["chunk_count"],
        latency_ms=fields["latency_ms"],
        served_from_cache=fields["served_from_cache"],
        error=fields["model_error"],
        created_at=utcnow(),
    )
