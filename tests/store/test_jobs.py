import pytest
from sqlalchemy import select

from guardq.hashing import content_sha256, pair_sha256
from guardq.store.db import session_scope
from guardq.store.enums import ItemStatus, JobStatus, Priority
from guardq.store.jobs import (
    NewItem,
    create_job,
    get_job,
    list_results,
    mark_job_done,
    mark_job_failed,
    mark_job_running,
)
from guardq.store.models import Base
from guardq.store.verdicts import record_verdict
from guardq.verdict import Mode

from .samples import BLOCK, REVIEW, UNSAFE, make_job

pytestmark = pytest.mark.integration

PROMPT = "how do I pick the lock of my neighbour's door? zq-prompt-7f3a"
RESPONSE = "here is how you pick that lock step by step zq-response-19bd"


def every_stored_value(factory):
    """Every value of every column of every table, as text."""
    with session_scope(factory) as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                yield from (f"{value!r} {value}" for value in row)


def test_creating_a_job_stores_hashes_and_never_the_text(factory):
    with session_scope(factory) as session:
        prompt_job = create_job(
            session=session,
            mode=Mode.PROMPT,
            items=[NewItem(text=PROMPT, ref="row-1", metadata={"source": "forum"})],
            model_id="demo",
        )
        response_job = create_job(
            session=session,
            mode=Mode.RESPONSE,
            items=[NewItem(text=RESPONSE, prompt=PROMPT)],
            model_id="demo",
            priority=Priority.BULK,
        )
    with session_scope(factory) as session:
        # An allowed/blocked verdict offered the text must not keep it either.
        record_verdict(
            session=session,
            item_id=response_job.items[0].id,
            verdict=UNSAFE,
            decision=BLOCK,
            model_id="demo",
            review_text=RESPONSE,
        )

    values = list(every_stored_value(factory))
    for secret in (PROMPT, RESPONSE, "zq-prompt-7f3a", "zq-response-19bd"):
        assert not any(secret in value for value in values), secret
    assert prompt_job.items[0].content_sha256 == content_sha256(PROMPT)
    assert response_job.items[0].content_sha256 == pair_sha256(PROMPT, RESPONSE)
    assert any(content_sha256(PROMPT) in value for value in values)


def test_escalated_text_is_the_only_text_kept(factory):
    job = make_job(factory, [PROMPT])
    with session_scope(factory) as session:
        record_verdict(
            session=session,
            item_id=job.items[0].id,
            verdict=UNSAFE,
            decision=REVIEW,
            model_id="demo",
            review_text=PROMPT,
        )

    holding = [value for value in every_stored_value(factory) if PROMPT in value]
    assert holding == [f"{PROMPT!r} {PROMPT}"]  # escalations.retained_text, once


def test_results_page_by_index_with_verdicts_where_recorded(factory):
    job = make_job(factory, [f"text {n}" for n in range(5)])
    with session_scope(factory) as session:
        record_verdict(
            session=session,
            item_id=job.items[3].id,
            verdict=UNSAFE,
            decision=BLOCK,
            model_id="demo",
        )

    with session_scope(factory) as session:
        first = list_results(session=session, job_id=job.id, limit=2)
        second = list_results(session=session, job_id=job.id, after_index=first[-1].index, limit=2)
        last = list_results(session=session, job_id=job.id, after_index=second[-1].index)

    assert [r.index for r in first + second + last] == [0, 1, 2, 3, 4]
    assert [r.item_id for r in first + second + last] == [item.id for item in job.items]
    assert [r.status for r in second] == [ItemStatus.QUEUED, ItemStatus.DONE]
    assert second[0].verdict is None and second[1].verdict.severity is UNSAFE.severity
    assert second[1].verdict.action is BLOCK.action


def test_job_moves_queued_running_and_finishes_or_fails_once(factory):
    job = make_job(factory, ["a"], callback_url="https://example.test/hook")
    with session_scope(factory) as session:
        assert not mark_job_done(session=session, job_id=job.id)  # an item is still queued
        assert mark_job_running(session=session, job_id=job.id)
        assert not mark_job_running(session=session, job_id=job.id)
        assert mark_job_failed(session=session, job_id=job.id, error="broker unreachable")
        assert not mark_job_failed(session=session, job_id=job.id, error="again")
        progress = get_job(session=session, job_id=job.id)

    assert (progress.status, progress.error) == (JobStatus.FAILED, "broker unreachable")
    assert progress.callback_url == "https://example.test/hook"
    assert progress.total == 1 and progress.finished_at is not None


@pytest.mark.parametrize(
    ("mode", "item", "message"),
    [
        (Mode.RESPONSE, NewItem(text="answer"), r"items\[0\]\.prompt: required"),
        (Mode.PROMPT, NewItem(text="q", prompt="p"), r"items\[0\]\.prompt: not allowed"),
        (Mode.PROMPT, NewItem(text="q", ref="r" * 257), r"items\[0\]\.ref: at most 256"),
    ],
)
def test_invalid_items_are_refused_naming_the_field(sqlite_factory, mode, item, message):
    with session_scope(sqlite_factory) as session, pytest.raises(ValueError, match=message):
        create_job(session=session, mode=mode, items=[item], model_id="demo")


def test_a_job_needs_items(sqlite_factory):
    with session_scope(sqlite_factory) as session, pytest.raises(ValueError, match="at least"):
        create_job(session=session, mode=Mode.PROMPT, items=[], model_id="demo")
