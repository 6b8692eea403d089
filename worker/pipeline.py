"""One batch of queued items, judged and recorded: the work of every moderation task.

The Celery tasks and the in-process path (``guardq label`` without a broker) both call
``process_items``; only how the items arrive differs. A batch may mix jobs and modes.

Safe to run twice: the rows are re-read first, items that already have a verdict are
skipped, and ``record_verdict`` keeps one verdict per item whatever races it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guardq.inputs import ModerationInput, PromptInput, ResponseInput, coerce_inputs
from guardq.policy import Policy
from guardq.store.cache import get_cached_verdicts, put_cached_verdict
from guardq.store.db import session_scope
from guardq.store.jobs import NewItem, item_sha256
from guardq.store.models import Item, Job, VerdictRecord
from guardq.store.verdicts import record_item_failure, record_verdict
from guardq.verdict import Mode, Verdict

log = logging.getLogger(__name__)


class Engine(Protocol):
    def moderate(self, inputs: object) -> Sequence[Verdict]: ...


@dataclass(frozen=True)
class WorkItem:
    """An item to judge, as a task message carries it (the text exists only here)."""

    item_id: uuid.UUID
    mode: Mode
    text: str
    prompt: str | None = None

    @property
    def content_sha256(self) -> str:
        return item_sha256(self.mode, NewItem(text=self.text, prompt=self.prompt))

    def engine_input(self) -> ModerationInput:
        if self.mode is Mode.PROMPT:
            return PromptInput(self.text)
        return ResponseInput(prompt=self.prompt or "", response=self.text)


def work_items(payload: dict[str, Any]) -> list[WorkItem]:
    """The items of one task message (``guardq.submit.task_payload`` builds them)."""
    mode = Mode(payload["mode"])
    return [
        WorkItem(item_id=uuid.UUID(i["id"]), mode=mode, text=i["text"], prompt=i.get("prompt"))
        for i in payload["items"]
    ]


@dataclass
class BatchReport:
    """What a batch did, per job: ids and counts only, so it may be logged."""

    counts: dict[uuid.UUID, Counter] = field(default_factory=dict)
    finished_jobs: list[uuid.UUID] = field(default_factory=list)

    def count(self, job_id: uuid.UUID, what: str) -> None:
        self.counts.setdefault(job_id, Counter())[what] += 1

    def total(self, what: str) -> int:
        return sum(counter[what] for counter in self.counts.values())


@dataclass(frozen=True)
class _Pending:
    item: WorkItem
    job_id: uuid.UUID
    sha256: str
    # The job's choice, re-read from the store: may an escalation keep this text?
    retain_text: bool = True


def process_items(
    items: Sequence[WorkItem],
    *,
    engine: Engine,
    session_factory: sessionmaker[Session],
    model_id: str,
    policy: Policy,
) -> BatchReport:
    """Judge and record ``items``: skip the recorded, serve the cached, infer the rest.

    One ``engine.moderate`` call covers every item that needs the model; a text repeated
    within the batch is inferred once. Raises what the engine or the store raises; the
    caller retries (nothing is recorded for the batch then, and a retry is safe).
    """
    report = BatchReport()
    started = time.perf_counter()
    with session_scope(session_factory) as session:
        pending, rejected = _unrecorded(session, items, model_id, report)
        cache: dict[Mode, dict] = {}
        for mode in {p.item.mode for p in pending}:
            hashes = [p.sha256 for p in pending if p.item.mode is mode]
            cache[mode] = get_cached_verdicts(
                session=session, hashes=hashes, model_id=model_id, mode=mode
            )
    lookup_ms = _ms_since(started)

    cached, to_infer, repeats = [], {}, []
    for p in pending:
        hit = cache[p.item.mode].get(p.sha256)
        key = (p.item.mode, p.sha256)
        if hit is not None:
            cached.append((p, hit.verdict, hit.chunk_count))
        elif key in to_infer:
            repeats.append(p)
        else:
            to_infer[key] = p

    inferred: dict[tuple[Mode, str], Verdict] = {}
    infer_ms = None
    if to_infer:
        begun = time.perf_counter()
        verdicts = engine.moderate([p.item.engine_input() for p in to_infer.values()])
        infer_ms = _ms_since(begun)
        inferred = dict(zip(to_infer, verdicts, strict=True))

    # (pending item, verdict, chunk count or None, served from cache, latency); a
    # rejected item has its reason in place of a verdict.
    outcomes = [(p, v, n, True, lookup_ms) for p, v, n in cached]
    outcomes += [(p, inferred[key], None, False, infer_ms) for key, p in to_infer.items()]
    # The engine did not run for a repeat: it is served like a cache hit.
    outcomes += [(p, inferred[(p.item.mode, p.sha256)], None, True, infer_ms) for p in repeats]
    outcomes += [(p, error, None, False, None) for p, error in rejected]
    # One transaction, in (job id, item id) order, so that two batches touching the
    # same jobs lock their rows in the same order and cannot deadlock.
    outcomes.sort(key=lambda o: (o[0].job_id, o[0].item.item_id))
    with session_scope(session_factory) as session:
        for p, verdict, chunk_count, from_cache, latency in outcomes:
            if isinstance(verdict, str):
                outcome = record_item_failure(
                    session=session, item_id=p.item.item_id, error=verdict
                )
                _count_outcome(report, p.job_id, outcome, "failed")
                continue
            decision = policy.decide(verdict, p.sha256)
            keep = decision.escalates and p.retain_text
            outcome = record_verdict(
                session=session,
                item_id=p.item.item_id,
                verdict=verdict,
                decision=decision,
                model_id=model_id,
                latency_ms=latency,
                served_from_cache=from_cache,
                chunk_count=chunk_count,
                review_text=p.item.engine_input().content if keep else None,
                # A response is judged as the answer to its prompt: reviewers (and
                # exported training pairs) need both.
                review_prompt=p.item.prompt if keep else None,
            )
            _count_outcome(report, p.job_id, outcome, "cached" if from_cache else "inferred")
    _fill_cache(session_factory, model_id, to_infer, inferred)
    return report


def record_failures(
    items: Sequence[WorkItem], *, session_factory: sessionmaker[Session], error: str
) -> BatchReport:
    """Mark ``items`` failed with ``error`` (which must not quote any content)."""
    report = BatchReport()
    with session_scope(session_factory) as session:
        rows = dict(
            session.execute(
                select(Item.id, Item.job_id).where(Item.id.in_([i.item_id for i in items]))
            ).all()
        )
        for item_id in sorted(rows, key=lambda i: (rows[i], i)):
            outcome = record_item_failure(session=session, item_id=item_id, error=error)
            _count_outcome(report, rows[item_id], outcome, "failed")
    return report


def _unrecorded(
    session: Session, items: Sequence[WorkItem], model_id: str, report: BatchReport
) -> tuple[list[_Pending], list[tuple[_Pending, str]]]:
    """The items still to judge, re-read from the store (the message is not the truth),
    and those that cannot be judged, each with the reason (never quoting content)."""
    ids = [item.item_id for item in items]
    query = (
        select(
            Item.id.label("item_id"),
            Item.job_id,
            Item.content_sha256,
            Job.model_id,
            Job.retain_text,
            VerdictRecord.id.label("verdict_id"),
        )
        .join(Job, Job.id == Item.job_id)
        .outerjoin(VerdictRecord, VerdictRecord.item_id == Item.id)
        .where(Item.id.in_(ids))
    )
    rows = {row.item_id: row for row in session.execute(query)}
    pending, rejected, seen = [], [], set()
    for item in items:
        row = rows.get(item.item_id)
        if row is None:
            log.warning("item %s: not in the store (job deleted?); skipped", item.item_id)
            continue
        if row.verdict_id is not None or item.item_id in seen:
            report.count(row.job_id, "skipped")
            continue
        seen.add(item.item_id)
        entry = _Pending(
            item=item, job_id=row.job_id, sha256=item.content_sha256, retain_text=row.retain_text
        )
        problem = _problem(item, entry.sha256, row, model_id)
        if problem:
            rejected.append((entry, problem))
        else:
            pending.append(entry)
    return pending, rejected


def _problem(item: WorkItem, sha256: str, row, model_id: str) -> str | None:
    """Why ``item`` cannot be judged here, or None. Checked per item so that one bad
    item fails alone instead of failing (and retrying) its whole batch."""
    if sha256 != row.content_sha256:
        return "the task message's content does not match the item's hash"
    if row.model_id != model_id:
        return f"the job asks for model {row.model_id!r}; this worker serves {model_id!r}"
    try:
        coerce_inputs([item.engine_input()])
    except ValueError as exc:
        return str(exc)
    return None


def _count_outcome(report: BatchReport, job_id: uuid.UUID, outcome, what: str) -> None:
    report.count(job_id, what if outcome.inserted else "skipped")
    if outcome.job_finished:
        report.finished_jobs.append(job_id)


def _fill_cache(session_factory, model_id, to_infer, inferred) -> None:
    # After the verdicts commit, in hash order (no deadlock between batches); a crash
    # before this only costs a later cache miss.
    with session_scope(session_factory) as session:
        for mode, sha in sorted(to_infer):
            put_cached_verdict(
                session=session,
                content_sha256=sha,
                model_id=model_id,
                mode=mode,
                verdict=inferred[(mode, sha)],
            )


def _ms_since(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)
