import math
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError

from guardq.policy import Action, Decision
from guardq.store.db import session_scope
from guardq.store.enums import EscalationStatus, ItemStatus, JobStatus
from guardq.store.escalations import get_escalation, list_escalations
from guardq.store.jobs import get_job, list_results
from guardq.store.models import Escalation, ReviewEvent, VerdictRecord
from guardq.store.verdicts import (
    ItemFailure,
    NewVerdict,
    get_verdict,
    record_item_failure,
    record_outcomes,
    record_verdict,
)
from guardq.verdict import SeverityScores, Verdict

from .samples import ALLOW, BLOCK, CONTROVERSIAL, REVIEW, SAFE, UNSAFE, make_job

pytestmark = pytest.mark.integration


def record(factory, item_id, verdict=UNSAFE, decision=BLOCK, **kwargs):
    with session_scope(factory) as session:
        return record_verdict(
            session=session,
            item_id=item_id,
            verdict=verdict,
            decision=decision,
            model_id="demo",
            **kwargs,
        )


def count(factory, model):
    with session_scope(factory) as session:
        return session.scalar(select(func.count()).select_from(model))


def job_of(factory, job_id):
    with session_scope(factory) as session:
        return get_job(session=session, job_id=job_id)


def test_redelivered_verdict_writes_one_row_and_counts_the_job_once(factory):
    job = make_job(factory, ["first text", "second text"])
    item_id = job.items[0].id

    first = record(factory, item_id, latency_ms=12)
    again = record(factory, item_id, verdict=SAFE, decision=ALLOW)

    assert first.inserted and not again.inserted
    assert count(factory, VerdictRecord) == 1
    progress = job_of(factory, job.id)
    assert (progress.status, progress.done, progress.failed) == (JobStatus.RUNNING, 1, 0)
    with session_scope(factory) as session:
        stored = get_verdict(session=session, item_id=item_id)
    assert stored.severity is UNSAFE.severity  # the first write stands
    assert (stored.scores, stored.span, stored.latency_ms) == (UNSAFE.scores, UNSAFE.span, 12)


def test_a_batch_of_verdicts_goes_in_whole_with_every_field_as_given(factory):
    # Postgres writes a batch as one INSERT ... SELECT FROM json_populate_recordset(a
    # JSON document): every column, the JSON ones and the nulls included, must come
    # back as given.
    job = make_job(factory, [f"text {i}" for i in range(40)])
    hits = [{"list": "banned", "entry": 3, "span": [0, 4]}]
    verdicts = [
        NewVerdict(
            item_id=item.id,
            verdict=(UNSAFE, SAFE, CONTROVERSIAL)[i % 3],
            decision=(BLOCK, ALLOW, REVIEW)[i % 3],
            model_id="demo",
            latency_ms=i,
            list_hits=hits if i % 2 else None,
        )
        for i, item in enumerate(job.items)
    ]
    with session_scope(factory) as session:
        outcome = record_outcomes(session=session, verdicts=verdicts)

    assert outcome.recorded == {item.id for item in job.items}
    with session_scope(factory) as session:
        for i, item in enumerate(job.items):
            stored = get_verdict(session=session, item_id=item.id)
            verdict = (UNSAFE, SAFE, CONTROVERSIAL)[i % 3]
            assert (stored.severity, stored.categories) == (verdict.severity, verdict.categories)
            assert (stored.scores, stored.span, stored.latency_ms) == (
                verdict.scores,
                verdict.span,
                i,
            )
            assert stored.action is (BLOCK, ALLOW, REVIEW)[i % 3].action
            assert stored.list_hits == (hits if i % 2 else None)


def test_a_value_too_long_for_its_column_is_refused_not_cut(postgres_factory):
    # The batch travels as JSON text, and each value goes through its column's input
    # function, which refuses an over-long value (a cast to varchar(64) would cut it).
    job = make_job(postgres_factory, ["one"])
    too_long = "r" * 65  # model_revision is varchar(64)
    with pytest.raises(DataError), session_scope(postgres_factory) as session:
        record_outcomes(
            session=session,
            verdicts=[
                NewVerdict(
                    item_id=job.items[0].id,
                    verdict=UNSAFE,
                    decision=BLOCK,
                    model_id="demo",
                    model_revision=too_long,
                )
            ],
        )
    assert count(postgres_factory, VerdictRecord) == 0


def test_a_score_json_cannot_hold_is_stored_as_given(postgres_factory):
    # The batch travels as one JSON document, which has no NaN: such a float goes as
    # float8 text, and comes back as it was (a random-weight model can produce one).
    job = make_job(postgres_factory, ["one"])
    odd = replace(UNSAFE, scores=SeverityScores(float("nan"), float("inf"), 0.5))
    record(postgres_factory, job.items[0].id, verdict=odd)

    with session_scope(postgres_factory) as session:
        stored = get_verdict(session=session, item_id=job.items[0].id)
    assert math.isnan(stored.scores.safe)
    assert (stored.scores.controversial, stored.scores.unsafe) == (float("inf"), 0.5)


def test_the_last_verdict_finishes_the_job_exactly_once(factory):
    job = make_job(factory, ["one", "two"])

    outcomes = [record(factory, item.id) for item in job.items]
    outcomes.append(record(factory, job.items[1].id))

    assert [outcome.job_finished for outcome in outcomes] == [False, True, False]
    progress = job_of(factory, job.id)
    assert (progress.status, progress.done) == (JobStatus.DONE, 2)
    assert progress.finished_at is not None and progress.finished_at.tzinfo is not None


def test_review_decision_opens_one_escalation_that_alone_keeps_the_text(factory):
    job = make_job(factory, ["a controversial text"])
    item_id = job.items[0].id

    outcome = record(factory, item_id, CONTROVERSIAL, REVIEW, review_text="a controversial text")
    record(factory, item_id, CONTROVERSIAL, REVIEW, review_text="a controversial text")

    assert outcome.escalation_id is not None
    assert count(factory, Escalation) == 1
    with session_scope(factory) as session:
        [listed] = list_escalations(session=session)
        events = session.scalars(select(ReviewEvent)).all()
    assert (listed.id, listed.status, listed.text) == (
        outcome.escalation_id,
        EscalationStatus.OPEN,
        "a controversial text",
    )
    assert listed.categories == CONTROVERSIAL.categories and listed.job_id == job.id
    assert [event.action for event in events] == ["escalated"]
    assert "a controversial text" not in repr(events[0].after)


def test_a_retained_text_comes_back_exactly_whatever_its_characters(factory):
    # The escalation's text goes into the store inside a JSON document on Postgres:
    # quotes, backslashes, control characters and characters outside the BMP (sent as
    # surrogate pairs) must come back as they were.
    text = 'say "no"\\ or \\"yes\\"\n\ttab \u00e9t\u00e9 \u4f60\u597d \U0001f389 \u200b end'
    job = make_job(factory, [text])
    record(factory, job.items[0].id, CONTROVERSIAL, REVIEW, review_text=text)

    with session_scope(factory) as session:
        [listed] = list_escalations(session=session)
    assert listed.text == text


def test_text_offered_for_an_allowed_or_blocked_item_is_not_kept(factory):
    job = make_job(factory, ["allowed", "blocked"])

    allowed = record(factory, job.items[0].id, SAFE, ALLOW, review_text="allowed")
    blocked = record(factory, job.items[1].id, UNSAFE, BLOCK, review_text="blocked")

    assert allowed.escalation_id is None and blocked.escalation_id is None
    assert count(factory, Escalation) == 0


def test_unparsed_verdict_is_stored_without_severity_and_escalated(factory):
    job = make_job(factory, ["garbled"])
    unparsed = Verdict(severity=None, error="no Safety line")
    decision = Decision(Action.REVIEW, "unparsed model output: no Safety line")

    outcome = record(factory, job.items[0].id, unparsed, decision)

    with session_scope(factory) as session:
        [result] = list_results(session=session, job_id=job.id)
        escalation = get_escalation(session=session, escalation_id=outcome.escalation_id)
    assert result.verdict.severity is None and result.verdict.error == "no Safety line"
    assert result.verdict.action is Action.REVIEW
    assert escalation.severity is None and escalation.text is None


def test_failed_item_counts_once_and_a_successful_retry_moves_it_to_done(factory):
    job = make_job(factory, ["will fail", "fine"])
    failing, fine = (item.id for item in job.items)

    with session_scope(factory) as session:
        first = record_item_failure(session=session, item_id=failing, error="CUDA OOM")
        again = record_item_failure(session=session, item_id=failing, error="CUDA OOM")
    finished = record(factory, fine)

    assert first.inserted and not again.inserted and finished.job_finished
    progress = job_of(factory, job.id)
    assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, 1, 1)

    retried = record(factory, failing)

    assert retried.inserted and not retried.job_finished
    progress = job_of(factory, job.id)
    assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, 2, 0)
    with session_scope(factory) as session:
        statuses = [r.status for r in list_results(session=session, job_id=job.id)]
        late = record_item_failure(session=session, item_id=failing, error="late")
    assert statuses == [ItemStatus.DONE, ItemStatus.DONE] and not late.inserted


def test_recording_for_an_unknown_item_raises(factory):
    with pytest.raises(LookupError, match="does not exist"):
        record(factory, uuid.uuid4())


def _wait_for_lock_waiter(factory, deadline_s=30.0):
    """Until another backend of this database waits on a lock (the racing insert)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with session_scope(factory) as session:
            if session.scalar(query):
                return
        time.sleep(0.02)
    raise AssertionError("the second writer never blocked on the first one's insert")


def test_two_sessions_racing_on_one_item_write_one_verdict(postgres_factory):
    factory = postgres_factory
    job = make_job(factory, ["raced"])
    item_id = job.items[0].id

    first = factory()
    first.begin()
    won = record_verdict(
        session=first, item_id=item_id, verdict=UNSAFE, decision=BLOCK, model_id="demo"
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Blocks on the unique index entry the first session holds, until it commits.
        racing = pool.submit(record, factory, item_id, SAFE, ALLOW)
        _wait_for_lock_waiter(factory)
        first.commit()
        first.close()
        lost = racing.result(timeout=30)

    assert won.inserted and won.job_finished
    assert not lost.inserted and not lost.job_finished
    assert count(factory, VerdictRecord) == 1
    progress = job_of(factory, job.id)
    assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, 1, 0)


def test_workers_redelivering_every_item_concurrently_count_each_once(factory):
    job = make_job(factory, [f"text {n}" for n in range(20)])
    item_ids = [item.id for item in job.items]

    def worker(seed):
        order = item_ids[:]
        random.Random(seed).shuffle(order)
        return [record(factory, item_id) for item_id in order]

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = [o for batch in pool.map(worker, range(4)) for o in batch]

    assert sum(outcome.inserted for outcome in outcomes) == 20
    assert sum(outcome.job_finished for outcome in outcomes) == 1
    assert count(factory, VerdictRecord) == 20
    progress = job_of(factory, job.id)
    assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, 20, 0)


def test_one_batch_over_several_jobs_counts_each_and_finishes_those_it_completes(factory):
    # One counter statement serves every job of a batch (a realtime batch holds one job
    # per request): each job's counters move by its own items, and only the jobs this
    # batch completes are reported finished, each once, with its callback flag.
    done_here = make_job(factory, ["a1", "a2"], callback_url="http://hooks.example/a")
    half_done = make_job(factory, ["b1", "b2", "b3"])
    finished_before = make_job(factory, ["c1"], callback_url="http://hooks.example/c")
    record(factory, finished_before.items[0].id)
    record(factory, half_done.items[0].id)

    def batch():
        with session_scope(factory) as session:
            return record_outcomes(
                session=session,
                verdicts=[
                    NewVerdict(item.id, UNSAFE, BLOCK, "demo")
                    for item in (*done_here.items, half_done.items[1], finished_before.items[0])
                ],
                failures=[ItemFailure(done_here.items[1].id, "engine: out of memory")],
            )

    outcome = batch()
    again = batch()

    assert outcome.finished_jobs == [done_here.id]
    assert outcome.callback_jobs == [done_here.id]
    assert again.finished_jobs == again.callback_jobs == []
    counters = {
        job.id: (progress.status, progress.done, progress.failed)
        for job in (done_here, half_done, finished_before)
        for progress in [job_of(factory, job.id)]
    }
    assert counters == {
        done_here.id: (JobStatus.DONE, 2, 0),  # the verdict beats the failure in one batch
        half_done.id: (JobStatus.RUNNING, 2, 0),
        finished_before.id: (JobStatus.DONE, 1, 0),
    }


def test_a_batch_over_more_jobs_than_one_counter_statement_takes_finishes_each(factory):
    jobs = [make_job(factory, [f"text {n}"]) for n in range(70)]  # three statements
    with session_scope(factory) as session:
        outcome = record_outcomes(
            session=session,
            verdicts=[NewVerdict(job.items[0].id, SAFE, ALLOW, "demo") for job in jobs],
        )
    assert outcome.finished_jobs == sorted(job.id for job in jobs)
    assert {job_of(factory, job.id).status for job in jobs} == {JobStatus.DONE}
