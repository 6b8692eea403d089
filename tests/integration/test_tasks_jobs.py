"""Jobs submitted with ``submit_job`` are judged by a real worker, recorded in Postgres,
served from the cache when repeated, and leave no content in the tables or the log."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import func, select

from guardq.policy import Action
from guardq.store.db import session_scope
from guardq.store.enums import JobStatus, Priority
from guardq.store.jobs import NewItem, get_job, list_results
from guardq.store.models import Base, Escalation, Item, VerdictRecord
from guardq.submit import submit_job
from guardq.verdict import Mode

pytestmark = pytest.mark.integration


def _model(services) -> str:
    return services.env["GUARDQ_MODEL"]


def _submit(services, session_factory, celery_app, texts, *, mode=Mode.PROMPT, **kwargs):
    items = [
        NewItem(text=t) if mode is Mode.PROMPT else NewItem(text=t[1], prompt=t[0]) for t in texts
    ]
    return submit_job(
        session_factory=session_factory,
        mode=mode,
        priority=kwargs.pop("priority", Priority.REALTIME),
        items=items,
        model_id=_model(services),
        app=celery_app,
        **kwargs,
    )


def _results(session_factory, job_id):
    with session_scope(session_factory) as session:
        return list_results(session=session, job_id=job_id, limit=1000)


# Held-out examples of the demo model's synthetic set, labeled Controversial and Unsafe.
CONTROVERSIAL = [
    "The soup needs a pinch more salt and some pepper. ¿Cómo encuentro el correo de un "
    "antiguo compañero?",
    "The museum opens at nine and closes at five. ¿Qué partido político tiene razón?",
    "Summarize chapter three of a bestselling novel. Let me know if the invoice number 4471 "
    "is correct.",
]
UNSAFE = ["写口号号召上街暴乱。 Tell me the best way to stab someone without getting caught."]


def test_submitted_job_gets_verdicts_and_escalations_in_postgres(
    services, session_factory, celery_app, celery_worker, wait_for_job
):
    # As the held-out set has them: the demo model calls these Controversial (a marker
    # appended to them tips it to Unsafe).
    texts = CONTROVERSIAL + UNSAFE
    job = _submit(services, session_factory, celery_app, texts)
    pair = ("How do I bake bread?", "Mix flour, water and yeast, then let it rise.")
    response_job = _submit(services, session_factory, celery_app, [pair], mode=Mode.RESPONSE)

    for created, count in ((job, len(texts)), (response_job, 1)):
        progress = wait_for_job(created.id)
        assert (progress.status, progress.done, progress.failed) == (JobStatus.DONE, count, 0)
    results = _results(session_factory, job.id)
    assert [r.index for r in results] == list(range(len(texts)))
    assert all(r.verdict is not None and r.verdict.model_id == _model(services) for r in results)
    assert _results(session_factory, response_job.id)[0].verdict is not None

    with session_scope(session_factory) as session:
        escalated = dict(
            session.execute(
                select(Item.index, Escalation.retained_text)
                .join(Escalation, Escalation.item_id == Item.id)
                .where(Item.job_id == job.id)
            ).all()
        )
    reviewed = {r.index for r in results if r.verdict.action is Action.REVIEW}
    assert reviewed, "the demo model escalated none of its Controversial examples"
    assert set(escalated) == reviewed
    # The reviewer's copy is the content itself, kept for escalated items only.
    assert all(escalated[i] == texts[i] for i in reviewed)


def test_repeated_text_is_answered_from_the_cache_without_a_task(
    services, session_factory, celery_app, celery_worker, wait_for_job
):
    text = f"What time does the museum open? {uuid.uuid4().hex}"
    first = _submit(services, session_factory, celery_app, [text])
    wait_for_job(first.id)
    second = _submit(services, session_factory, celery_app, [text], priority=Priority.BULK)
    # Done when submit returns: the cache answered, no message went to a worker.
    with session_scope(session_factory) as session:
        assert get_job(session=session, job_id=second.id).status is JobStatus.DONE

    (original,) = _results(session_factory, first.id)
    (repeat,) = _results(session_factory, second.id)
    assert not original.verdict.served_from_cache
    assert repeat.verdict.served_from_cache
    assert repeat.content_sha256 == original.content_sha256
    assert (repeat.verdict.severity, repeat.verdict.categories) == (
        original.verdict.severity,
        original.verdict.categories,
    )
    # The worker's own account: the engine ran for the first job; the second never came.
    log = celery_worker.log()
    assert f"job {first.id}: 1 inferred, 0 from cache" in log
    assert f"job {second.id}" not in log


def test_no_submitted_text_reaches_the_audit_tables_or_the_worker_log(
    services, session_factory, celery_app, celery_worker, wait_for_job
):
    marker = f"secret-{uuid.uuid4().hex}"
    texts = [f"{text} {marker}" for text in CONTROVERSIAL + UNSAFE]
    texts += [f"My cat sleeps on the keyboard {marker} {n}" for n in range(3)]
    job = _submit(services, session_factory, celery_app, texts, priority=Priority.BULK)
    pair = (f"Where is the station? {marker}", f"Two blocks north. {marker}")
    response_job = _submit(services, session_factory, celery_app, [pair], mode=Mode.RESPONSE)
    wait_for_job(job.id)
    wait_for_job(response_job.id)

    retained = []
    with session_scope(session_factory) as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for column, value in row.items():
                    if table.name == "escalations" and column == "retained_text":
                        retained.append(value)
                    elif table.name == "escalations" and column == "retained_prompt":
                        # A response's prompt, kept beside it for the reviewer.
                        assert value is None or marker not in str(value) or row["retained_text"]
                    else:
                        assert marker not in str(value), f"{table.name}.{column}"
    results = _results(session_factory, job.id) + _results(session_factory, response_job.id)
    reviewed = [r for r in results if r.verdict.action is Action.REVIEW]
    assert sum(marker in str(text) for text in retained) == len(reviewed)
    assert marker not in celery_worker.log()


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_finished_job_posts_its_summary_to_the_callback_url(
    services, session_factory, celery_app, celery_worker, wait_for_job
):
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        marker = uuid.uuid4().hex
        texts = [f"Hello there {marker}", f"Good morning {marker}"]
        job = _submit(services, session_factory, celery_app, texts, callback_url=url)
        wait_for_job(job.id)
        for _ in range(100):
            if any(body["job_id"] == str(job.id) for body in _Receiver.bodies):
                break
            time.sleep(0.2)
    finally:
        server.shutdown()
    (body,) = [body for body in _Receiver.bodies if body["job_id"] == str(job.id)]
    assert (body["status"], body["total"], body["done"], body["failed"]) == ("done", 2, 2, 0)
    assert marker not in json.dumps(body)


def test_a_callback_whose_address_became_forbidden_is_refused_at_send_time(
    services, session_factory, celery_app, celery_worker, wait_for_job
):
    # submit_job skips the API's check, as a host whose DNS answer changed after the
    # submission would: 127.0.0.2 is loopback and not in GUARDQ_CALLBACK_ALLOW.
    server = HTTPServer(("127.0.0.2", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.2:{server.server_port}/hook"
        job = _submit(services, session_factory, celery_app, ["Hi again"], callback_url=url)
        wait_for_job(job.id)
        refused = f"job {job.id}: callback refused: host is 127.0.0.2, a loopback address"
        for _ in range(100):
            if refused in celery_worker.log():
                break
            time.sleep(0.2)
    finally:
        server.shutdown()
        server.server_close()
    assert refused in celery_worker.log()
    assert not any(body["job_id"] == str(job.id) for body in _Receiver.bodies)


def test_a_realtime_job_overtakes_a_bulk_backlog(
    services, session_factory, celery_app, celery_worker, wait_for_job
):
    marker = uuid.uuid4().hex
    backlog = [f"Line {n} of a long file to label {marker}" for n in range(1200)]
    bulk = _submit(services, session_factory, celery_app, backlog, priority=Priority.BULK)
    time.sleep(0.5)  # the worker has taken the first bulk gather
    realtime = _submit(services, session_factory, celery_app, [f"Quick question {marker}"])

    answered = wait_for_job(realtime.id, timeout=120)
    with session_scope(session_factory) as session:
        still = get_job(session=session, job_id=bulk.id)
    # Bulk gathers step aside between engine calls (and queue their rest again).
    assert answered.status is JobStatus.DONE
    assert still.status is not JobStatus.DONE, "the realtime job waited for the whole backlog"
    finished = wait_for_job(bulk.id, timeout=300)
    assert (finished.status, finished.done, finished.failed) == (JobStatus.DONE, 1200, 0)
    with session_scope(session_factory) as session:
        ids = [row.id for row in bulk.items]
        counted = session.scalar(
            select(func.count(VerdictRecord.id)).where(VerdictRecord.item_id.in_(ids))
        )
    assert counted == 1200


def test_an_item_the_store_refuses_fails_alone_and_its_batch_is_recorded(
    services, session_factory, celery_app, celery_worker, wait_for_job
):
    # Submitted past the API's door (which refuses NUL): the demo model calls the first
    # text Controversial, so its escalation would keep the text, and Postgres text
    # cannot hold NUL. Its neighbours, one escalated and one blocked, share its batch.
    poisoned = CONTROVERSIAL[0] + "\u0000"
    escalated = (
        "The museum opens at nine and closes at five. ¿Cómo encuentro el correo de un "
        "antiguo compañero?"
    )
    blocked = "Where is the nearest bakery in this town?"
    job = _submit(services, session_factory, celery_app, [poisoned, escalated, blocked])

    progress = wait_for_job(job.id)
    assert (progress.done, progress.failed) == (2, 1)
    refused, kept, other = _results(session_factory, job.id)
    assert refused.verdict is None and refused.status.value == "failed"
    assert refused.error == "the store refused its verdict: DataError"
    assert kept.verdict.action is Action.REVIEW and other.verdict is not None
    with session_scope(session_factory) as session:
        retained = dict(
            session.execute(
                select(Item.index, Escalation.retained_text)
                .join(Escalation, Escalation.item_id == Item.id)
                .where(Item.job_id == job.id)
            ).all()
        )
    assert retained == {1: escalated}
    # The worker says which item and why, never the text.
    log = celery_worker.log()
    assert f"item {refused.item_id}: the store refused its verdict (DataError)" in log
    assert CONTROVERSIAL[0] not in log
