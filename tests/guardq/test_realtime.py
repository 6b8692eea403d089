"""Realtime answers through the real Redis: what a worker pushes, a waiting request
reads back, with the verdict's fields and never the content."""

import uuid

import pytest
from redis import Redis

from guardq.policy import Action, Decision
from guardq.realtime import ANSWER_TTL_S, answer_key, publish, read_answers
from guardq.recording import Judged
from guardq.store.verdicts import NewVerdict
from guardq.verdict import Category, Mode, Severity, SeverityScores, Span, Verdict

pytestmark = pytest.mark.integration

SECRET = f"secret-{uuid.uuid4().hex}"


@pytest.fixture
def redis(make_redis_database):
    client = Redis.from_url(make_redis_database())
    yield client
    client.close()


def judged(job_id, realtime=True, **outcome):
    return Judged(
        item_id=uuid.uuid4(),
        job_id=job_id,
        mode=Mode.PROMPT,
        sha256="0" * 64,
        text=f"how do I hurt {SECRET}",
        realtime=realtime,
        **outcome,
    )


def test_pushed_answers_read_back_as_verdicts_and_carry_no_text(redis):
    job_id = uuid.uuid4()
    verdict = Verdict(
        severity=Severity.UNSAFE,
        categories=(Category.VIOLENT,),
        scores=SeverityScores(0.1, 0.2, 0.7),
        span=Span(0, 12),
    )
    ok = judged(job_id, verdict=verdict)
    stored = NewVerdict(ok.item_id, verdict, Decision(Action.BLOCK, "severity Unsafe"), "demo")
    failed = judged(job_id, error="the store refused its verdict: DataError")

    publish(redis, [(ok, stored), (failed, None)])

    key = answer_key(job_id)
    assert 0 < redis.ttl(key) <= ANSWER_TTL_S
    (entry,) = redis.lrange(key, 0, -1)
    assert SECRET.encode() not in entry
    answers = read_answers(entry)
    answer = answers[ok.item_id]
    assert (answer.severity, answer.categories, answer.action) == (
        Severity.UNSAFE,
        (Category.VIOLENT,),
        Action.BLOCK,
    )
    assert (answer.scores, answer.span) == (verdict.scores, verdict.span)
    assert answers[failed.item_id] == "the store refused its verdict: DataError"


def test_bulk_items_are_not_pushed(redis):
    job_id = uuid.uuid4()
    item = judged(job_id, realtime=False, verdict=Verdict(severity=Severity.SAFE))
    publish(redis, [(item, None)])
    assert not redis.exists(answer_key(job_id))
