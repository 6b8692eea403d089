"""The Batch API without a worker: files, batch requests, errors in OpenAI's format, and
the batch runner's steps (``worker.batch_runner.advance``, called here as the
``guardq.run_batch`` task calls it) against the real Postgres and Redis.

tests/integration/test_batch_api.py drives the whole flow with OpenAI's client and a
real worker.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from api.batch_schemas import parse_id
from api.outage import BROKER_DOWN, DATABASE_DOWN, RETRY_AFTER_S
from guardq.queue import BULK, CALLBACKS, make_celery
from guardq.store.db import create_db_engine, session_factory, session_scope
from guardq.store.enums import KeyRole, Priority
from guardq.store.files import CHUNK_BYTES
from guardq.store.models import BatchJob, BatchLineError, BatchRecord, Item, Job, StoredFile, utcnow
from worker.batch_runner import advance

pytestmark = pytest.mark.integration


def line(custom_id, body, url="/v1/moderations", method="POST") -> str:
    return json.dumps({"custom_id": custom_id, "method": method, "url": url, "body": body})


GOOD = [
    line("a", {"input": "the weather is fine today"}),
    line("b", {"input": ["first of two", "second of two"]}),
    line("c", {"input": "a third request", "model": "omni-moderation-latest"}),
]
BAD = {
    # line number -> (param, code)
    4: (None, "invalid_json"),
    5: ("custom_id", "missing"),
    6: ("url", "invalid_request"),
    7: ("custom_id", "duplicate_custom_id"),
    8: ("body.input", "blank_text"),
    9: ("body.input[1]", "text_too_long"),
}
MIXED = "\n".join(
    [
        *GOOD,
        '{"custom_id": "x", "method": "POST", ',
        json.dumps({"method": "POST", "url": "/v1/moderations", "body": {"input": "no id"}}),
        line("d", {"input": "wrong url"}, url="/v1/chat/completions"),
        line("a", {"input": "the id a again"}),
        line("e", {"input": "   "}),
        line("f", {"input": ["fine", "x" * 300]}),
        "",
        "",
    ]
)


def upload(client, headers, content: bytes | str, purpose="batch", name="in.jsonl"):
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/v1/files", headers=headers, files={"file": (name, data)}, data={"purpose": purpose}
    )


def create_batch(client, headers, file_id, **extra):
    body = {"input_file_id": file_id, "endpoint": "/v1/moderations", "completion_window": "24h"}
    return client.post("/v1/batches", headers=headers, json={**body, **extra})


@pytest.fixture
def celery(settings):
    app = make_celery(settings)
    yield app
    app.close()


@pytest.fixture
def step(factory, settings, celery):
    """One step of the runner, as the ``guardq.run_batch`` task takes it."""

    def run(batch_id: str) -> None:
        advance(parse_id(batch_id, "batch_"), factory=factory, settings=settings, app=celery)

    return run


def openai_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_a_file_is_stored_in_chunks_and_read_back_whole(client, producer, factory):
    content = ("".join(f'{{"n": {i}, "pad": "{"p" * 90}"}}\n' for i in range(30_000))).encode()
    assert len(content) > 2 * CHUNK_BYTES
    created = upload(client, producer, content)
    assert created.status_code == 200, created.text
    file = created.json()
    assert file["id"].startswith("file-") and file["object"] == "file"
    assert (file["bytes"], file["filename"], file["purpose"]) == (len(content), "in.jsonl", "batch")
    assert client.get(f"/v1/files/{file['id']}", headers=producer).json() == file
    assert client.get(f"/v1/files/{file['id']}/content", headers=producer).content == content
    with session_scope(factory) as session:
        assert session.scalar(select(StoredFile.lines)) == 30_000

    deleted = client.delete(f"/v1/files/{file['id']}", headers=producer)
    assert deleted.json() == {"id": file["id"], "object": "file", "deleted": True}
    error = openai_error(client.get(f"/v1/files/{file['id']}", headers=producer), 404)
    assert error["code"] == "file_not_found"


def test_uploads_past_a_limit_or_for_another_purpose_are_refused(
    client, producer, factory, settings
):
    error = openai_error(upload(client, producer, GOOD[0], purpose="fine-tune"), 400)
    assert error["param"] == "purpose" and "'batch'" in error["message"]
    missing = client.post("/v1/files", headers=producer, data={"purpose": "batch"})
    assert openai_error(missing, 400)["param"] == "file"

    client.app.state.settings = settings.model_copy(update={"batch_max_lines": 2})
    error = openai_error(upload(client, producer, "\n".join(GOOD)), 400)
    assert error["code"] == "file_too_large" and "2 requests" in error["message"]
    client.app.state.settings = settings.model_copy(update={"batch_max_file_bytes": 1024})
    error = openai_error(upload(client, producer, "\n".join(GOOD * 20)), 400)
    assert "1024 bytes" in error["message"]
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(StoredFile)) == 0


def test_bad_batch_requests_get_openai_errors(client, producer, make_key):
    file_id = upload(client, producer, "\n".join(GOOD)).json()["id"]
    assert openai_error(client.get("/v1/batches"), 401)["code"] == "invalid_api_key"
    reviewer = make_key(KeyRole.REVIEWER, "r")
    assert openai_error(client.get("/v1/batches", headers=reviewer), 403)["type"] == (
        "permission_error"
    )
    cases = [
        ({"endpoint": "/v1/embeddings"}, 400, "endpoint"),
        ({"completion_window": "1h"}, 400, "completion_window"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, 400, "metadata"),
        ({"metadata": {"k": "v" * 513}}, 400, "metadata.k"),
        ({"input_file_id": "file-0123"}, 404, "input_file_id"),
    ]
    for change, status, param in cases:
        error = openai_error(create_batch(client, producer, file_id, **change), status)
        assert error["param"] == param, (change, error)
    missing = client.post("/v1/batches", headers=producer, json={"endpoint": "/v1/moderations"})
    assert openai_error(missing, 400)["param"] in ("input_file_id", "completion_window")
    other = make_key(KeyRole.PRODUCER, "other")
    created = create_batch(client, producer, file_id).json()
    assert openai_error(client.get(f"/v1/batches/{created['id']}", headers=other), 404)
    assert openai_error(create_batch(client, other, file_id), 404)["param"] == "input_file_id"


def test_a_batch_is_read_into_bulk_jobs_once_and_bad_lines_become_errors(
    client, producer, factory, redis, step
):
    file_id = upload(client, producer, MIXED).json()["id"]
    batch = create_batch(client, producer, file_id, metadata={"run": "t"}).json()
    assert batch["status"] == "validating" and batch["metadata"] == {"run": "t"}
    assert batch["expires_at"] == batch["created_at"] + 86_400
    assert batch["request_counts"] == {"total": 9, "completed": 0, "failed": 0}
    assert redis.llen(CALLBACKS) == 1  # the guardq.run_batch task

    step(batch["id"])
    read = client.get(f"/v1/batches/{batch['id']}", headers=producer).json()
    assert read["status"] == "in_progress" and read["in_progress_at"] >= read["created_at"]
    assert read["request_counts"] == {"total": 9, "completed": 0, "failed": len(BAD)}
    with session_scope(factory) as session:
        jobs = session.execute(select(Job.priority, Job.total)).all()
        refs = session.scalars(select(Item.ref).order_by(Item.ref)).all()
        errors = session.execute(
            select(BatchLineError.line, BatchLineError.param, BatchLineError.code)
        ).all()
    assert jobs == [(Priority.BULK, 4)]
    assert refs == ["a", "b", "b", "c"]
    assert {e.line: (e.param, e.code) for e in errors} == BAD
    assert redis.llen(BULK) == 1

    # A redelivered task that had read everything: nothing is submitted twice.
    with session_scope(factory) as session:
        session.execute(
            update(BatchRecord).values(status="validating", lines_read=0, in_progress_at=None)
        )
    step(batch["id"])
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1
        assert session.scalar(select(func.count()).select_from(BatchJob)) == 1
    assert client.get(f"/v1/batches/{batch['id']}", headers=producer).json()["status"] == (
        "in_progress"
    )


def _file_lines(client, headers, file_id) -> list[dict]:
    content = client.get(f"/v1/files/{file_id}/content", headers=headers).content
    return [json.loads(row) for row in content.splitlines()]


def test_cancelling_a_batch_ends_it_with_its_requests_in_the_error_file(
    client, producer, step, settings
):
    file_id = upload(client, producer, MIXED).json()["id"]
    batch = create_batch(client, producer, file_id).json()
    step(batch["id"])
    cancelling = client.post(f"/v1/batches/{batch['id']}/cancel", headers=producer).json()
    assert cancelling["status"] == "cancelling" and cancelling["cancelling_at"] is not None
    step(batch["id"])

    done = client.get(f"/v1/batches/{batch['id']}", headers=producer).json()
    assert done["status"] == "cancelled" and done["cancelled_at"] >= done["cancelling_at"]
    assert done["output_file_id"] is None
    assert done["request_counts"] == {"total": 9, "completed": 0, "failed": 9}
    lines = _file_lines(client, producer, done["error_file_id"])
    assert [row["custom_id"] for row in lines[:3]] == ["a", "b", "c"]
    for row in lines[:3]:
        assert row["response"] is None and row["error"]["code"] == "batch_cancelled"
    assert [row["response"]["status_code"] for row in lines[3:]] == [400] * len(BAD)
    assert [row["response"]["body"]["error"]["param"] for row in lines[3:]] == [
        param for param, _ in BAD.values()
    ]
    assert lines[3]["response"]["body"]["error"]["message"].startswith("line 4: not valid JSON")
    # The input file held the texts: it is gone with the batch.
    openai_error(client.get(f"/v1/files/{file_id}", headers=producer), 404)
    again = client.post(f"/v1/batches/{batch['id']}/cancel", headers=producer)
    assert openai_error(again, 409)["code"] == "invalid_state"
    # An output file is no batch input.
    reused = create_batch(client, producer, done["error_file_id"])
    assert openai_error(reused, 400)["code"] == "invalid_file"


def test_a_batch_past_its_window_expires_and_keeps_its_input_when_asked(
    client, producer, step, factory
):
    file_id = upload(client, producer, "\n".join(GOOD)).json()["id"]
    batch = create_batch(client, producer, file_id, keep_input_file=True).json()
    step(batch["id"])
    with session_scope(factory) as session:
        session.execute(update(BatchRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    step(batch["id"])

    done = client.get(f"/v1/batches/{batch['id']}", headers=producer).json()
    assert done["status"] == "expired" and done["expired_at"] is not None
    lines = _file_lines(client, producer, done["error_file_id"])
    assert [(row["custom_id"], row["error"]["code"]) for row in lines] == [
        ("a", "batch_expired"), ("b", "batch_expired"), ("c", "batch_expired"),
    ]  # fmt: skip
    assert client.get(f"/v1/files/{file_id}", headers=producer).status_code == 200


def test_an_empty_input_file_fails_the_batch(client, producer, step):
    file_id = upload(client, producer, "\n\n").json()["id"]
    batch = create_batch(client, producer, file_id).json()
    step(batch["id"])
    done = client.get(f"/v1/batches/{batch['id']}", headers=producer).json()
    assert done["status"] == "failed" and done["failed_at"] is not None
    assert done["errors"]["data"][0]["code"] == "empty_file"


def test_batches_are_listed_newest_first_in_pages(client, producer):
    file_id = upload(client, producer, "\n".join(GOOD)).json()["id"]
    ids = [create_batch(client, producer, file_id).json()["id"] for _ in range(3)]
    first = client.get("/v1/batches", headers=producer, params={"limit": 2}).json()
    assert [b["id"] for b in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    assert first["object"] == "list" and first["last_id"] == ids[1]
    rest = client.get(
        "/v1/batches", headers=producer, params={"limit": 2, "after": first["last_id"]}
    ).json()
    assert [b["id"] for b in rest["data"]] == [ids[0]] and rest["has_more"] is False


def test_a_file_being_read_by_a_batch_cannot_be_deleted(client, producer):
    file_id = upload(client, producer, "\n".join(GOOD)).json()["id"]
    batch = create_batch(client, producer, file_id).json()
    error = openai_error(client.delete(f"/v1/files/{file_id}", headers=producer), 409)
    assert batch["id"] in error["message"]
    assert uuid.UUID(hex=batch["id"].removeprefix("batch_"))


def test_the_batch_api_answers_503_in_openai_format_when_a_store_is_down(
    settings, factory, producer
):
    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down, session_factory=factory), headers=producer) as client:
        file_id = upload(client, producer, "\n".join(GOOD)).json()["id"]
        response = create_batch(client, producer, file_id)
        listed = client.get("/v1/batches").json()["data"]
    error = openai_error(response, 503)
    assert error["message"] == BROKER_DOWN and error["type"] == "server_error"
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    # Nothing will read it: the batch is failed, not left validating.
    assert [(b["status"], b["errors"]["data"][0]["code"]) for b in listed] == [
        ("failed", "not_queued")
    ]

    engine = create_db_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    app = create_app(settings, session_factory=session_factory(engine))
    with TestClient(app, headers=producer) as client:
        for method, path in [
            ("POST", "/v1/batches"),
            ("GET", "/v1/batches/batch_x"),
            ("GET", "/v1/files/file-x/content"),
            ("DELETE", "/v1/files/file-x"),
        ]:
            error = openai_error(client.request(method, path, json={}), 503)
            assert error["message"] == DATABASE_DOWN, (method, path)
    engine.dispose()


def test_an_input_shared_by_two_batches_stays_until_the_last_has_read_it(client, producer, step):
    file_id = upload(client, producer, "\n".join(GOOD)).json()["id"]
    first, second = (create_batch(client, producer, file_id).json() for _ in range(2))
    step(first["id"])
    client.post(f"/v1/batches/{first['id']}/cancel", headers=producer)
    step(first["id"])
    assert client.get(f"/v1/files/{file_id}", headers=producer).status_code == 200

    step(second["id"])
    read = client.get(f"/v1/batches/{second['id']}", headers=producer).json()
    assert read["status"] == "in_progress" and read["request_counts"]["total"] == 3
