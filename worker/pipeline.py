"""One batch of queued items, judged and recorded: the work of every moderation task.

The Celery tasks and the in-process path (``guardq label`` without a broker) both call
``process_items``; only how the items arrive differs. A batch may mix jobs and modes.

Safe to run twice: the rows are re-read first, items that already have a verdict are
skipped, and ``record_outcomes`` keeps one verdict per item whatever races it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from guardq.inputs import ModerationInput, PromptInput, ResponseInput, coerce_inputs
from guardq.policy import Policy
from guardq.recording import Judged, Notify, commit
from guardq.screening import Screen, screen_batch
from guardq.store.cache import get_cached_verdicts
from guardq.store.db import session_scope
from guardq.store.enums import Priority
from guardq.store.jobs import NewItem, item_sha256
from guardq.store.models import Item, Job, VerdictRecord, utcnow
from guardq.store.verdicts import BatchOutcome, ItemFailure, record_outcomes
from guardq.verdict import Mode, Verdict

log = logging.getLogger(__name__)


class Engine(Protocol):
    def stream(self, inputs: object) -> Iterator[list[tuple[int, Verdict]]]: ...


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
    # Of those, the ones with a callback URL to call.
    callback_jobs: list[uuid.UUID] = field(default_factory=list)
    # Items left for later (``process_items``'s ``yield_to``), with their jobs.
    deferred: list[_Pending] = field(default_factory=list)
    # Seconds in the engine, and in the whole call: what the pipeline costs around it.
    engine_s: float = 0.0
    total_s: float = 0.0

    def count(self, job_id: uuid.UUID, what: str, n: int = 1) -> None:
        self.counts.setdefault(job_id, Counter())[what] += n

    def total(self, what: str) -> int:
        return sum(counter[what] for counter in self.counts.values())

    def add(self, judged: Sequence[Judged], outcome: BatchOutcome) -> None:
        for j in judged:
            if j.item_id not in outcome.recorded:
                what = "skipped"
            elif j.verdict is None:
                what = "failed"
            elif j.from_cache or j.inferred:
                what = "cached" if j.from_cache else "inferred"
            else:
                what = "listed"  # a term list decided without the model
            self.count(j.job_id, what)
        self.finished_jobs += outcome.finished_jobs
        self.callback_jobs += outcome.callback_jobs


@dataclass(frozen=True)
class _Pending:
    item: WorkItem
    job_id: uuid.UUID
    sha256: str
    # The job's choice, re-read from the store: may an escalation keep this text?
    retain_text: bool = True
    realtime: bool = False
    screen: Screen | None = None

    def judged(self, **outcome) -> Judged:
        return Judged(
            item_id=self.item.item_id,
            job_id=self.job_id,
            mode=self.item.mode,
            sha256=self.sha256,
            text=self.item.text,
            prompt=self.item.prompt,
            retain_text=self.retain_text,
            realtime=self.realtime,
            screen=self.screen,
            **outcome,
        )


@cache
def _writer() -> ThreadPoolExecutor:
    """The process's one writer thread, started once (a thread per batch cost a start,
    ~1 ms, on every realtime call); one thread, so commits keep their order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="guardq-writer")


def process_items(
    items: Sequence[WorkItem],
    *,
    engine: Engine,
    session_factory: sessionmaker[Session],
    model_id: str,
    policy: Policy,
    notify: Notify | None = None,
    yield_to: Callable[[], bool] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> BatchReport:
    """Judge and record ``items``: skip the recorded, serve the cached, infer the rest.

    The items that need the model go to the engine as one stream (a text repeated
    within the batch is inferred once): one call decodes as fast as the engine can,
    where several smaller ones would each end in a part-filled wave. While the engine
    runs a wave, a writer thread commits the outcomes of the one before
    (``guardq.recording``: set-based, one bad item failing alone) and hands them to
    ``notify``. Returns once every outcome is committed, so that the caller
    acknowledges its messages only then. Raises what the engine or the store raises;
    the caller retries (what was committed stays, and a retry skips it).

    ``yield_to`` is asked between waves; when it says yes (realtime work is waiting
    behind this bulk batch), the stream is closed, the items not yet judged are left
    in ``report.deferred`` for the caller to queue again, and the call returns early.

    ``clock``: "now" for author holds (``guardq.screening``); tests pass their own.
    """
    report = BatchReport()
    started = time.perf_counter()
    with session_scope(session_factory) as session:
        pending, rejected = _unrecorded(session, items, model_id, report)
        pending = _screened(session, pending, policy, clock())
        cache: dict[Mode, dict] = {}
        for mode in {p.item.mode for p in pending}:
            hashes = [p.sha256 for p in pending if p.item.mode is mode]
            cache[mode] = get_cached_verdicts(
                session=session, hashes=hashes, model_id=model_id, mode=mode
            )
    lookup_ms = _ms_since(started)

    ready = [p.judged(error=error) for p, error in rejected]
    to_infer: dict[tuple[Mode, str], _Pending] = {}
    repeats: dict[tuple[Mode, str], list[_Pending]] = {}
    for p in pending:
        if p.screen is not None and p.screen.skip_model:
            ready.append(p.judged(verdict=p.screen.verdict(), latency_ms=lookup_ms))
            continue
        hit = cache[p.item.mode].get(p.sha256)
        key = (p.item.mode, p.sha256)
        if hit is not None:
            ready.append(
                p.judged(
                    verdict=hit.verdict,
                    from_cache=True,
                    latency_ms=lookup_ms,
                    chunk_count=hit.chunk_count,
                )
            )
        elif key in to_infer:
            repeats.setdefault(key, []).append(p)
        else:
            to_infer[key] = p

    def write(judged: list[Judged]) -> None:
        outcome = commit(
            judged, session_factory=session_factory, model_id=model_id, policy=policy,
            notify=notify,
        )  # fmt: skip
        report.add(judged, outcome)

    # The writer thread commits in order while the engine (which releases the GIL in its
    # kernels) runs the next wave.
    writer = _writer()
    writes = [writer.submit(write, ready)] if ready else []
    keys = list(to_infer)
    stream, handed = None, set()
    begun = time.perf_counter()
    try:
        if keys:
            stream = engine.stream([to_infer[key].item.engine_input() for key in keys])
        while stream is not None:
            step = time.perf_counter()
            wave = next(stream, None)
            report.engine_s += time.perf_counter() - step
            if wave is None:
                break
            infer_ms = _ms_since(begun)
            judged = []
            for index, verdict in wave:
                handed.add(index)
                key = keys[index]
                judged.append(
                    to_infer[key].judged(verdict=verdict, inferred=True, latency_ms=infer_ms)
                )
                # The engine did not run for a repeat: it is served like a cache hit.
                judged += [
                    p.judged(verdict=verdict, from_cache=True, latency_ms=infer_ms)
                    for p in repeats.get(key, ())
                ]
            writes.append(writer.submit(write, judged))
            if len(handed) < len(keys) and yield_to is not None and yield_to():
                for index, key in enumerate(keys):
                    if index not in handed:
                        report.deferred += [to_infer[key], *repeats.get(key, ())]
                break
    finally:
        if stream is not None:
            stream.close()  # a deferral's rest is never judged
        # Even when the engine raised: the caller retries only once what was handed to
        # the writer is committed or has failed.
        wait(writes)
    for future in writes:
        future.result()  # the first failure, raised here for the caller's retry
    report.total_s = time.perf_counter() - started
    return report


def record_failures(
    items: Sequence[WorkItem], *, session_factory: sessionmaker[Session], error: str
) -> BatchReport:
    """Mark ``items`` failed with ``error`` (which must not quote any content)."""
    report = BatchReport()
    with session_scope(session_factory) as session:
        outcome = record_outcomes(
            session=session, failures=[ItemFailure(item.item_id, error) for item in items]
        )
    for item_id in outcome.recorded:
        report.count(outcome.jobs[item_id], "failed")
    report.finished_jobs += outcome.finished_jobs
    report.callback_jobs += outcome.callback_jobs
    return report


# Built once (the ids an expanding parameter): a statement built per batch cost a
# share of every realtime call.
_ITEMS_TO_JUDGE = (
    select(
        Item.id.label("item_id"),
        Item.job_id,
        Item.content_sha256,
        Job.model_id,
        Job.retain_text,
        Job.priority,
        VerdictRecord.id.label("verdict_id"),
    )
    .join(Job, Job.id == Item.job_id)
    .outerjoin(VerdictRecord, VerdictRecord.item_id == Item.id)
    .where(Item.id.in_(bindparam("ids", expanding=True)))
)


def _unrecorded(
    session: Session, items: Sequence[WorkItem], model_id: str, report: BatchReport
) -> tuple[list[_Pending], list[tuple[_Pending, str]]]:
    """The items still to judge, re-read from the store (the message is not the truth),
    and those that cannot be judged, each with the reason (never quoting content)."""
    ids = [item.item_id for item in items]
    rows = {row.item_id: row for row in session.execute(_ITEMS_TO_JUDGE, {"ids": ids})}
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
            item=item,
            job_id=row.job_id,
            sha256=item.content_sha256,
            retain_text=row.retain_text,
            realtime=row.priority is Priority.REALTIME,
        )
        problem = _problem(item, entry.sha256, row, model_id)
        if problem:
            rejected.append((entry, problem))
        else:
            pending.append(entry)
    return pending, rejected


def _screened(
    session: Session, pending: list[_Pending], policy: Policy, now: datetime
) -> list[_Pending]:
    """Term-list hits and author holds (``guardq.screening``), before the cache and the
    engine; a list that decides alone takes its items away from the model."""
    screens = screen_batch(
        session, [(p.item.item_id, p.item.text) for p in pending], policy=policy, now=now
    )
    if not screens:
        return pending
    return [replace(p, screen=screens.get(p.item.item_id)) for p in pending]


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


def _ms_since(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)
