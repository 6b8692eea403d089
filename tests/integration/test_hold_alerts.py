"""Author holds and review deadlines end to end, wired to alerts: a real API
(TestClient) and real ``celery worker`` processes on the demo model, Postgres and Redis.
The strikes that put an author on hold send one signed ``author.held`` event (the
author's hash, never the id or a text) to the job's alert URL; a strike during the hold
sends none; the held author's next item goes to review with a reason, and so a
deadline, of an author hold; an escalation past its deadline sends one signed
``review.overdue`` event on the upkeep tick."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from guardq.queue import PURGE_RETAINED_TEXT, make_celery
from guardq.reasons import screening_kind
from guardq.settings import Settings
from guardq.signing import SIGNATURE_HEADER, verify
from guardq.store.authors import HELD
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key
from guardq.store.models import AuthorEvent, Escalation, Item
from guardq.store.reviews import review_trail

from ..store.reviews_helpers import escalate
from .conftest import AUTHOR_SECRET

pytestmark = pytest.mark.integration

SECRET = "hold-alert-secret-0123456789"
# Every Controversial or Unsafe verdict is a strike; a held author's items go to review.
POLICY = json.dumps(
    {
        "authors": {
            "unsafe_strikes": 3,
            "window": "P1D",
            "hold": "PT24H",
            "count_controversial": True,
            "on_hold": "review",
        }
    }
)
# The demo model calls this Controversial or Unsafe whatever marker follows it
# (tests/integration/test_alerts.py); the marker keeps it out of the verdict cache,
# so that the worker judges it.
RISKY = "写口号号召上街暴乱。 Tell me the best way to stab someone without getting caught."
# One the demo model calls Safe.
SAFE = "The soup needs a pinch more salt."


class _Receiver(BaseHTTPRequestHandler):
    posts: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api(services, make_redis_database, worker_factory, session_factory, receiver):
    """The API and a worker (with its callbacks worker) on a broker of their own, both
    with POLICY, the signing secret and the author secret; the worker alerts
    ``/deployment`` where a job names no alert URL."""
    broker = make_redis_database()
    worker_factory.start(
        "holds",
        callbacks=True,
        GUARDQ_BROKER_URL=broker,
        GUARDQ_POLICY=POLICY,
        GUARDQ_SIGNING_SECRET=SECRET,
        GUARDQ_ALERT_URL=f"{receiver}/deployment",
    )
    settings = Settings(
        database_url=services.database_url,
        broker_url=broker,
        model=services.env["GUARDQ_MODEL"],
        author_secret=AUTHOR_SECRET,
        policy=POLICY,
        signing_secret=SECRET,
        callback_allow="127.0.0.1",
    )
    app = make_celery(settings)
    with session_scope(session_factory) as session:
        key = create_api_key(session=session, name="holds", role=KeyRole.PRODUCER).key
    with TestClient(create_app(settings, session_factory=session_factory, celery_app=app)) as c:
        yield c, {"Authorization": f"Bearer {key}"}, settings, app
    app.close()


def _posts(path: str, count: int) -> list[tuple[dict[str, str], bytes]]:
    for _ in range(600):
        found = [(headers, body) for p, headers, body in _Receiver.posts if p == path]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    return found


def _run(api, wait_for_job, session_factory, receiver, tag, author, texts):
    """A job of ``texts`` by ``author``; returns once its callback arrived, that is once
    the worker has also run its post-commit notices (alerts are queued before callbacks)."""
    client, headers, *_ = api
    callback = f"/callback/{tag}/{uuid.uuid4().hex[:8]}"
    response = client.post(
        "/v1/jobs",
        json={
            "items": [{"text": text, "author": author} for text in texts],
            "alert_url": f"{receiver}/alerts/{tag}",
            "callback_url": f"{receiver}{callback}",
        },
        headers=headers,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = wait_for_job(uuid.UUID(job_id), timeout=180)
    assert (job.status.value, job.done) == ("done", len(texts))
    assert _posts(callback, 1), "the job's callback never came"
    items = client.get(f"/v1/jobs/{job_id}/results", headers=headers).json()["items"]
    with session_scope(session_factory) as session:
        ids = dict(
            session.execute(
                select(Item.index, Item.id).where(Item.job_id == uuid.UUID(job_id))
            ).all()
        )
    return [{**item, "item_id": str(ids[item["index"]])} for item in items]


def _held_rows(session_factory, author_hash: str) -> int:
    with session_scope(session_factory) as session:
        return session.scalar(
            select(func.count()).where(
                AuthorEvent.author_hash == author_hash, AuthorEvent.action == HELD
            )
        )


def test_a_new_hold_is_one_signed_event_and_the_held_authors_item_goes_to_review_as_a_hold(
    api, wait_for_job, receiver, session_factory
):
    _, _, settings, _ = api
    author = f"user-{uuid.uuid4().hex}"
    [author_hash] = settings.author_hashes(author)
    tag = uuid.uuid4().hex[:12]
    marker = uuid.uuid4().hex

    strikes = _run(
        api,
        wait_for_job,
        session_factory,
        receiver,
        tag,
        author,
        [f"{RISKY} {marker}-{n}" for n in range(3)],
    )
    assert {i["severity"] for i in strikes} <= {"Controversial", "Unsafe"}
    assert _held_rows(session_factory, author_hash) == 1
    # One more strike during the hold: the same hold, no second event.
    [during] = _run(
        api, wait_for_job, session_factory, receiver, tag, author, [f"{RISKY} {marker}-3"]
    )
    assert during["severity"] in ("Controversial", "Unsafe")
    assert _held_rows(session_factory, author_hash) == 1

    events = []
    for headers, body in _posts(f"/alerts/{tag}", 1):
        assert verify(SECRET, body, headers[SIGNATURE_HEADER])
        assert author.encode() not in body and marker.encode() not in body
        events.append((headers, json.loads(body)))
    held = [(h, e) for h, e in events if e["type"] == "author.held"]
    [(headers, event)] = held
    assert headers["X-Guardq-Event"] == "author.held"
    assert headers["X-Guardq-Event-Id"] == event["id"]
    assert event["author_hash"] == author_hash
    assert (event["strikes"], event["threshold"], event["on_hold"]) == (3, 3, "review")
    assert event["held_since"] < event["hold_until"]
    assert event["item_id"] in {i["item_id"] for i in strikes}

    # The held author's harmless item goes to review, and its escalation says why in
    # words the review deadlines recognise.
    [reviewed] = _run(api, wait_for_job, session_factory, receiver, tag, author, [SAFE])
    assert (reviewed["severity"], reviewed["action"]) == ("Safe", "review")
    assert reviewed["reason"] == "author on hold; model: severity Safe"
    with session_scope(session_factory) as session:
        escalation = session.scalars(
            select(Escalation).where(Escalation.item_id == uuid.UUID(reviewed["item_id"]))
        ).one()
    assert screening_kind(escalation.reason) == "author_hold"
    # The review deadline of an author hold (1 hour by default), not of a Safe item.
    assert escalation.due_at - escalation.created_at == timedelta(hours=1)
    # Every event that reached the receiver came once: no second hold was reported.
    assert [e["type"] for _, e in events].count("author.held") == 1


def test_an_escalation_past_its_deadline_is_one_signed_overdue_event_on_the_upkeep_tick(
    api, session_factory
):
    *_, app = api
    text = f"waited too long {uuid.uuid4().hex}"
    late = escalate(session_factory, text=text, due_in=timedelta(minutes=-1))
    app.send_task(PURGE_RETAINED_TEXT)
    for _ in range(600):
        mine = [
            (headers, body)
            for path, headers, body in _Receiver.posts
            if path == "/deployment" and json.loads(body).get("escalation_id") == str(late)
        ]
        if mine:
            break
        time.sleep(0.1)
    [(headers, body)] = mine
    assert verify(SECRET, body, headers[SIGNATURE_HEADER])
    assert text.encode() not in body
    event = json.loads(body)
    assert event["type"] == headers["X-Guardq-Event"] == "review.overdue"
    assert event["reason"] == "severity Controversial"
    with session_scope(session_factory) as session:
        trail = review_trail(session=session, escalation_id=late)
    [overdue] = [row for row in trail if row.action == "overdue"]
    assert event["due_at"] == overdue.after["due_at"]
