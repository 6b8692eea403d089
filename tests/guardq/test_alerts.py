"""The alert notifier: after a commit, one ``guardq.send_alert`` message per blocked
item whose job (or deployment) has an alert URL, on the callbacks queue, without text."""

from __future__ import annotations

import base64
import json

import pytest
from redis import Redis

from guardq.alerts import alert_notifier, event
from guardq.policy import Action, Decision
from guardq.queue import CALLBACKS, SEND_ALERT, make_celery
from guardq.recording import Judged
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.jobs import NewItem, create_job
from guardq.store.verdicts import NewVerdict
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
