"""From judged items to stored outcomes: the policy's decision, the write, the notice.

The worker (``worker.pipeline``) and the submitting producer (``guardq.submit``, which
answers cache hits itself) both end here, so a verdict is stored the same way whoever
found it:

1. the deployment's policy decides on each verdict (a cached verdict is decided afresh);
2. one transaction records the batch with ``record_outcomes`` and fills the verdict
   cache with what the model inferred;
3. if the store refuses the batch's data (a NUL character in a retained text, a value
   outside a column's range), the batch is recorded again item by item, each in its own
   savepoint, and the item the store refuses fails alone with the reason, never its
   content; a store that is down raises, and the caller retries the whole batch;
4. after the commit, ``notify`` hears what was recorded (the realtime answer), so that a
   verdict is always committed before it is reported.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from guardq.policy import Policy
from guardq.screening import Screen
from guardq.store.cache import put_cached_verdicts
from guardq.store.db import session_scope
from guardq.store.verdicts import BatchOutcome, ItemFailure, NewVerdict, record_outcomes
from guardq.verdict import Mode, Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judged:
    """An item's outcome, not yet stored: a verdict, or why there is none (``error``).

    ``text`` and ``prompt`` are the judged content, kept only if the decision escalates
    and the job allows it (``retain_text``). ``inferred``: the model answered just now
    (the verdict goes to the cache); ``from_cache``: the cache (or a repeat of the same
    content in the batch) answered.
    """

    item_id: uuid.UUID
    job_id: uuid.UUID
    mode: Mode
    # The item's content hash as the store has it (the worker checks the message's text
    # against it; the submission wrote it).
    sha256: str
    verdict: Verdict | None = None
    error: str | None = None
    inferred: bool = False
    from_cache: bool = False
    latency_ms: int | None = None
    chunk_count: int | None = None
    text: str | None = None
    prompt: str | None = None
    retain_text: bool = True
    # The job waits for its answer (``guardq.realtime``): tell it after the commit.
    realtime: bool = False
    # Term-list hits and the author's hold (``guardq.screening``), if any.
    screen: Screen | None = None


# A notice of what one commit recorded: (judged item, its stored verdict or None when it
# failed). Called after the commit, with the items this call recorded (not the ones
# another delivery had recorded before).
Notify = Callable[[Sequence[tuple[Judged, NewVerdict | None]]], None]

# What the store refuses because of one row's values: that item fails alone. Anything
# else (a connection lost, a server restarting) fails the batch, which is retried.
_DATA_ERRORS = (sa_exc.DataError, sa_exc.IntegrityError)


def commit(
    judged: Sequence[Judged],
    *,
    session_factory: sessionmaker[Session],
    model_id: str,
    policy: Policy,
    notify: Notify | None = None,
) -> BatchOutcome:
    """Record ``judged`` (see the module docstring); what the store changed."""
    verdicts = {j.item_id: _new_verdict(j, model_id, policy) for j in judged if j.verdict}
    failures = [ItemFailure(j.item_id, j.error or "no verdict") for j in judged if not j.verdict]
    cacheable = [(j.mode, j.sha256, j.verdict) for j in judged if j.inferred and j.verdict]
    known = {j.item_id: (j.job_id, j.sha256) for j in judged}
    try:
        with session_scope(session_factory) as session:
            outcome = record_outcomes(
                session=session, verdicts=list(verdicts.values()), failures=failures, known=known
            )
            put_cached_verdicts(session=session, model_id=model_id, entries=cacheable)
    except _DATA_ERRORS as exc:
        log.warning(
            "batch of %d item(s): the store refused its data (%s); recording item by item",
            len(judged),
            _cause(exc),
        )
        outcome = _commit_one_by_one(session_factory, verdicts, failures, cacheable, model_id)
    if notify is not None:
        recorded = [(j, verdicts.get(j.item_id)) for j in judged if j.item_id in outcome.recorded]
        if recorded:
            notify(recorded)
    return outcome


def _new_verdict(j: Judged, model_id: str, policy: Policy) -> NewVerdict:
    decision = _decide(j, policy)
    keep = decision.escalates and j.retain_text
    return NewVerdict(
        item_id=j.item_id,
        verdict=j.verdict,
        decision=decision,
        model_id=model_id,
        latency_ms=j.latency_ms,
        served_from_cache=j.from_cache,
        chunk_count=j.chunk_count,
        review_text=j.text if keep else None,
        # A response is judged as the answer to its prompt: reviewers (and exported
        # training pairs) need both.
        review_prompt=j.prompt if keep else None,
        list_hits=j.screen.hits_json() if j.screen else None,
    )


def _decide(j: Judged, policy: Policy):
    if j.screen is None:
        return policy.decide(j.verdict, j.sha256)
    base = None if j.screen.skip_model else policy.decide(j.verdict, j.sha256)
    # The screen's decision replaces the policy's: its review terms are its own.
    return policy.review_terms(j.screen.decide(base), j.verdict)


def _commit_one_by_one(
    session_factory: sessionmaker[Session],
    verdicts: dict[uuid.UUID, NewVerdict],
    failures: list[ItemFailure],
    cacheable: list,
    model_id: str,
) -> BatchOutcome:
    outcome = BatchOutcome()
    with session_scope(session_factory) as session:
        # Item order, as ``record_outcomes`` locks jobs: one transaction takes its job
        # rows in the same order as any other batch's.
        for item_id in sorted(verdicts):
            try:
                with session.begin_nested():
                    one = record_outcomes(session=session, verdicts=[verdicts[item_id]])
            except _DATA_ERRORS as exc:
                log.warning("item %s: the store refused its verdict (%s)", item_id, _cause(exc))
                failures.append(
                    ItemFailure(item_id, f"the store refused its verdict: {_cause(exc)}")
                )
                continue
            _merge(outcome, one)
        _merge(outcome, record_outcomes(session=session, failures=failures))
        try:
            with session.begin_nested():
                put_cached_verdicts(session=session, model_id=model_id, entries=cacheable)
        except _DATA_ERRORS as exc:  # the cache is an optimisation: go on without it
            log.warning("cache fill skipped: %s", _cause(exc))
    for failure in failures:
        verdicts.pop(failure.item_id, None)
    return outcome


def _merge(into: BatchOutcome, part: BatchOutcome) -> None:
    into.recorded |= part.recorded
    into.finished_jobs += part.finished_jobs
    into.callback_jobs += part.callback_jobs
    into.escalations.update(part.escalations)
    into.jobs.update(part.jobs)


def _cause(exc: Exception) -> str:
    """The error's DB-API class (DataError, IntegrityError): never its message, which
    may quote the content. The class, not the driver's subclass: the same refusal is a
    ``psycopg.DataError`` when the driver finds it and an ``UntranslatableCharacter``
    when the server does, and the item's error should not depend on which."""
    return type(exc).__name__
