"""The alert notifier: after a commit, one ``guardq.send_alert`` message per blocked
item whose job (or deployment) has an alert URL, on the callbacks queue, without text."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import replace

import pytest
from redis import Redis
from sqlalchemy import select, update

from guardq.alerts import alert_notifier, event, queue_overdue_alerts
from guardq.authors import AuthorPolicy
from guardq.policy import Action, Decision
from guardq.queue import CALLBACKS, SEND_ALERT, make_celery
from guardq.recording import Judged
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.jobs import NewItem, create_job
from guardq.store.models import Escalation, Item, utcnow
from guardq.store.verdicts import NewVerdict, record_outcomes
from guardq.verdict import Category, Mode, Severity, Verdict

pytestmark = pytest.mark.integration

TEXT = "a text that must never leave the worker"
UNSAFE = Verdict(severity=Severity.UNSAFE, categories=(Category.VIOLENT,))
DECISIONS = {
    Action.BLOCK: Decision(Action.BLOCK, "severity Unsafe"),
    Action.REVIEW: Decision(Action.REVIEW, "severity Controversial"),
    Action.ALLOW: Decision(Action.ALLOW, "severity Safe"),
}


@pytest.fixture
def broker(make_redis_database):
    url = make_redis_database()
    client = Redis.from_url(url)
    client.delete(CALLBACKS)
    app = make_celery(Settings(broker_url=url))
    yield app, client
    client.delete(CALLBACKS)
    app.close()
    client.close()


def _messages(client: Redis) -> list[tuple[str, dict]]:
    out = []
    for raw in reversed(client.lrange(CALLBACKS, 0, -1)):
        message = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], kwargs, raw))
    return out


def _recorded(factory, alert_url, actions):
    with session_scope(factory) as session:
        job = create_job(
            session=session,
            mode=Mode.PROMPT,
            items=[NewItem(text=f"{TEXT} {n}", ref=f"post-{n}") for n in range(len(actions))],
            model_id="m",
            alert_url=alert_url,
        )
    recorded = []
    for created, action in zip(job.items, actions, strict=True):
        judged = Judged(
            item_id=created.id, job_id=job.id, mode=Mode.PROMPT,
            sha256=created.content_sha256, verdict=UNSAFE, text=f"{TEXT} {created.index}",
        )  # fmt: skip
        stored = NewVerdict(
            item_id=created.id, verdict=UNSAFE, decision=DECISIONS[action], model_id="m"
        )
        recorded.append((judged, stored))
    return job, recorded


def test_only_blocked_items_are_queued_to_the_jobs_alert_url_without_text(postgres_factory, broker):
    app, client = broker
    job, recorded = _recorded(
        postgres_factory, "https://hooks.example.com/a", [Action.BLOCK, Action.REVIEW, Action.ALLOW]
    )
    recorded.append((recorded[0][0], None))  # a failed item: nothing to report
    alert_notifier(app=app, session_factory=postgres_factory, deployment_url=None)(recorded)

    ((task, kwargs, raw),) = _messages(client)
    assert task == SEND_ALERT and kwargs["url"] == "https://hooks.example.com/a"
    sent = kwargs["event"]
    assert sent["type"] == "item.blocked" and sent["item_id"] == str(job.items[0].id)
    assert sent["content_sha256"] == job.items[0].content_sha256 and sent["ref"] == "post-0"
    assert (sent["severity"], sent["categories"], sent["action"]) == (
        "Unsafe", ["Violent"], "block",
    )  # fmt: skip
    assert sent["id"] == event("item.blocked", str(job.items[0].id))["id"]
    assert TEXT.encode() not in raw


def test_without_any_alert_url_nothing_is_queued_and_the_deployment_url_catches_all(
    postgres_factory, broker
):
    app, client = broker
    _, recorded = _recorded(postgres_factory, None, [Action.BLOCK, Action.BLOCK])
    alert_notifier(app=app, session_factory=postgres_factory, deployment_url=None)(recorded)
    assert _messages(client) == []
    alert_notifier(app=app, session_factory=postgres_factory, deployment_url="https://d/x")(
        recorded
    )
    messages = _messages(client)
    # url None: the worker reads GUARDQ_ALERT_URL when it sends.
    assert [kwargs["url"] for _, kwargs, _ in messages] == [None, None]


def test_a_broker_that_is_down_loses_the_alerts_but_never_raises(postgres_factory, caplog):
    down = make_celery(Settings(broker_url="redis://127.0.0.1:1/0"))
    down.conf.broker_connection_retry = False
    down.conf.broker_connection_max_retries = 0
    _, recorded = _recorded(postgres_factory, "https://hooks.example.com/a", [Action.BLOCK])
    alert_notifier(app=down, session_factory=postgres_factory, deployment_url=None)(recorded)
    assert "1 alert(s) not queued" in caplog.text


AUTHOR_ID = "user-that-must-never-leave-guardq"
HOLDS = AuthorPolicy(unsafe_strikes=2, window="P1D", hold="PT24H")


def _struck(factory, author: str, alert_url: str | None, count: int):
    """``count`` Unsafe items of ``author``, recorded in the store (so they are strikes)."""
    job, recorded = _recorded(factory, alert_url, [Action.BLOCK] * count)
    with session_scope(factory) as session:
        session.execute(
            update(Item).where(Item.job_id == job.id).values(author_hash=author_hash(author))
        )
        record_outcomes(
            session=session,
            verdicts=[stored for _, stored in recorded],
            known={j.item_id: (j.job_id, j.sha256) for j, _ in recorded},
        )
    return job, recorded


def author_hash(author: str) -> str:
    return hashlib.sha256(author.encode()).hexdigest()


def test_a_new_author_hold_is_one_event_with_the_hash_and_never_the_id_or_text(
    postgres_factory, broker
):
    app, client = broker
    author = f"{AUTHOR_ID}-{uuid.uuid4().hex}"
    notify = alert_notifier(
        app=app, session_factory=postgres_factory, deployment_url=None, authors=HOLDS
    )
    job, first = _struck(postgres_factory, author, "https://hooks.example.com/h", 1)
    notify(first)
    assert [kwargs["event"]["type"] for _, kwargs, _ in _messages(client)] == ["item.blocked"]
    client.delete(CALLBACKS)

    # The second strike crosses the threshold: one hold, one event, however many of the
    # author's items the batch holds and however often the notice hears of it.
    job, second = _struck(postgres_factory, author, "https://hooks.example.com/h", 2)
    notify(second)
    notify(second)
    held = [
        kwargs for _, kwargs, _ in _messages(client) if kwargs["event"]["type"] == "author.held"
    ]
    [kwargs] = held
    sent = kwargs["event"]
    assert kwargs["url"] == "https://hooks.example.com/h"
    assert sent["type"] == "author.held" and sent["author_hash"] == author_hash(author)
    assert (sent["strikes"], sent["threshold"], sent["on_hold"]) == (3, 2, "block")
    assert sent["job_id"] == str(job.id) and sent["item_id"] in {str(i.id) for i in job.items}
    assert sent["hold_until"] > sent["held_since"]
    body = json.dumps(kwargs)
    assert author not in body and TEXT not in body
    assert sent["id"] == event("author.held", f"{author_hash(author)}:{sent['held_since']}")["id"]


def test_a_hold_without_any_alert_url_is_not_reported_nor_marked(postgres_factory, broker):
    app, client = broker
    author = f"{AUTHOR_ID}-{uuid.uuid4().hex}"
    _, recorded = _struck(postgres_factory, author, None, 2)
    notify = alert_notifier(
        app=app, session_factory=postgres_factory, deployment_url=None, authors=HOLDS
    )
    notify(recorded)
    assert _messages(client) == []
    # The deployment's URL set later: the hold is still new, reported to it.
    alert_notifier(
        app=app, session_factory=postgres_factory, deployment_url="https://d/x", authors=HOLDS
    )(recorded)
    types = [kwargs["event"]["type"] for _, kwargs, _ in _messages(client)]
    assert sorted(types) == ["author.held", "item.blocked", "item.blocked"]


def test_overdue_escalations_are_queued_to_their_jobs_alert_url_without_text(
    postgres_factory, broker
):
    app, client = broker
    job, recorded = _recorded(postgres_factory, "https://hooks.example.com/o", [Action.REVIEW])
    _, other = _recorded(postgres_factory, None, [Action.REVIEW])
    reason = "author on hold; model: severity Safe"
    opened = []
    with session_scope(postgres_factory) as session:
        for judged, stored in (*recorded, *other):
            record_outcomes(
                session=session,
                verdicts=[replace(stored, decision=Decision(Action.REVIEW, reason))],
                known={judged.item_id: (judged.job_id, judged.sha256)},
            )
        opened = list(
            session.scalars(
                select(Escalation.id)
                .where(Escalation.item_id.in_([recorded[0][0].item_id, other[0][0].item_id]))
                .order_by(Escalation.item_id == other[0][0].item_id)
            )
        )
    due = utcnow()
    with session_scope(postgres_factory) as session:
        count = queue_overdue_alerts(app, session, [(i, due) for i in opened], None)
    # The second escalation's job has no alert URL, and the deployment none either.
    assert count == 1
    ((task, kwargs, raw),) = _messages(client)
    assert task == SEND_ALERT and kwargs["url"] == "https://hooks.example.com/o"
    sent = kwargs["event"]
    assert sent["type"] == "review.overdue" and sent["escalation_id"] == str(opened[0])
    assert (sent["item_id"], sent["job_id"]) == (str(recorded[0][0].item_id), str(job.id))
    assert (sent["reason"], sent["due_at"]) == (reason, due.isoformat())
    assert sent["content_sha256"] == job.items[0].content_sha256
    assert TEXT.encode() not in raw
    client.delete(CALLBACKS)
    with session_scope(postgres_factory) as session:
        assert queue_overdue_alerts(app, session, [(i, due) for i in opened], "https://d/x") == 2
    urls = {kwargs["event"]["escalation_id"]: kwargs["url"] for _, kwargs, _ in _messages(client)}
    assert urls == {str(opened[0]): "https://hooks.example.com/o", str(opened[1]): None}
