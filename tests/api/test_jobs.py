import json
import uuid

import pytest
from sqlalchemy import select

from guardq.hashing import content_sha256, pair_sha256
from guardq.policy import Action, Decision
from guardq.queue import MODERATE_BULK, MODERATE_REALTIME
from guardq.store.db import session_scope
from guardq.store.models import Item, Job
from guardq.store.verdicts import record_verdict
from guardq.verdict import Category, Severity, SeverityScores, Span, Verdict

pytestmark = pytest.mark.integration

UNSAFE = Verdict(
    severity=Severity.UNSAFE,
    categories=(Category.VIOLENT,),
    scores=SeverityScores(safe=0.02, controversial=0.08, unsafe=0.9),
    span=Span(0, 5),
)


def submit(client, headers, texts, **fields):
    body = {"mode": "prompt", "items": [{"text": t, "ref": f"r{i}"} for i, t in enumerate(texts)]}
    response = client.post("/v1/jobs", json={**body, **fields}, headers=headers)
    assert response.status_code == 202, response.text
    return response


BLOCK = Decision(Action.BLOCK, "severity Unsafe")


def judge_all(factory, job_id, verdict=UNSAFE, decision=BLOCK):
    """Record a verdict for every item, as a worker would (no worker runs in tests/api)."""
    with session_scope(factory) as session:
        ids = session.scalars(select(Item.id).where(Item.job_id == job_id).order_by(Item.index))
        for item_id in list(ids):
            record_verdict(
                session=session, item_id=item_id, verdict=verdict, decision=decision, model_id="m"
            )


def test_a_submitted_job_is_202_queued_with_its_total_and_location(client, producer, factory):
    response = submit(client, producer, ["one", "two", "three"])
    job = response.json()
    assert (job["status"], job["total"], job["done"], job["failed"]) == ("queued", 3, 0, 0)
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["links"]["results"] == f"/v1/jobs/{job['id']}/results"
    with session_scope(factory) as session:
        hashes = session.scalars(select(Item.content_sha256).order_by(Item.index)).all()
    assert hashes == [content_sha256(t) for t in ("one", "two", "three")]


def test_a_response_mode_item_is_hashed_with_its_prompt(client, producer, factory):
    body = {"mode": "response", "items": [{"prompt": "q?", "response": "a.", "ref": "x"}]}
    assert client.post("/v1/jobs", json=body, headers=producer).status_code == 202
    with session_scope(factory) as session:
        assert session.scalar(select(Item.content_sha256)) == pair_sha256("q?", "a.")


@pytest.mark.parametrize(
    ("priority", "task"), [("realtime", MODERATE_REALTIME), ("bulk", MODERATE_BULK)]
)
def test_the_items_go_to_the_queue_of_their_priority(client, producer, redis, priority, task):
    submit(client, producer, ["one", "two"], priority=priority)
    assert redis.llen(priority) == 1
    message = json.loads(redis.lindex(priority, 0))
    assert message["headers"]["task"] == task


def test_job_status_counts_done_and_failed_items(client, producer, factory):
    job_id = submit(client, producer, ["one", "two"]).json()["id"]
    judge_all(factory, uuid.UUID(job_id))
    job = client.get(f"/v1/jobs/{job_id}", headers=producer).json()
    assert (job["status"], job["total"], job["done"], job["failed"], job["queued"]) == (
        "done",
        2,
        2,
        0,
        0,
    )


def test_an_unknown_job_is_404_and_a_malformed_id_is_422(client, producer):
    missing = uuid.uuid4()
    assert client.get(f"/v1/jobs/{missing}", headers=producer).status_code == 404
    response = client.get("/v1/jobs/not-a-uuid/results", headers=producer)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "job_id"


def test_results_page_through_the_job_by_cursor(client, producer, factory):
    texts = [f"text {i}" for i in range(5)]
    job_id = submit(client, producer, texts).json()["id"]
    judge_all(factory, uuid.UUID(job_id))

    pages, path = [], f"/v1/jobs/{job_id}/results?limit=2"
    while path:
        page = client.get(path, headers=producer).json()
        pages.append([item["index"] for item in page["items"]])
        path = page["next"]
    assert pages == [[0, 1], [2, 3], [4]]

    item = client.get(f"/v1/jobs/{job_id}/results", headers=producer).json()["items"][3]
    assert item["ref"] == "r3"
    assert item["content_sha256"] == content_sha256("text 3")
    assert (item["severity"], item["categories"], item["action"]) == (
        "Unsafe",
        ["Violent"],
        "block",
    )
    assert item["refusal"] is None
    assert item["scores"] == {"safe": 0.02, "controversial": 0.08, "unsafe": 0.9}
    assert item["span"] == {"start": 0, "end": 5}


def test_results_of_unjudged_items_carry_their_status_and_no_verdict(client, producer):
    job_id = submit(client, producer, ["one"]).json()["id"]
    page = client.get(f"/v1/jobs/{job_id}/results", headers=producer).json()
    assert page["status"] == "queued"
    assert page["next"] is None
    [item] = page["items"]
    assert (item["status"], item["severity"], item["action"], item["categories"]) == (
        "queued",
        None,
        None,
        [],
    )


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?format=jsonl", {}), ("", {"Accept": "application/x-ndjson"})],
)
def test_results_stream_as_json_lines(client, producer, factory, query, headers):
    job_id = submit(client, producer, ["a", "b", "c"]).json()["id"]
    judge_all(factory, uuid.UUID(job_id))
    response = client.get(f"/v1/jobs/{job_id}/results{query}", headers={**producer, **headers})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [(row["index"], row["ref"], row["severity"]) for row in rows] == [
        (0, "r0", "Unsafe"),
        (1, "r1", "Unsafe"),
        (2, "r2", "Unsafe"),
    ]


def test_a_job_the_broker_refuses_is_503_with_its_id_and_marked_failed(settings, factory, producer):
    from fastapi.testclient import TestClient

    from api.app import create_app

    unreachable = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(unreachable, session_factory=factory)) as client:
        response = client.post("/v1/jobs", json={"items": [{"text": "x"}]}, headers=producer)
    assert response.status_code == 503
    job_id = response.json()["detail"]["job_id"]
    with session_scope(factory) as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job.status == "failed"
        assert job.error.startswith("enqueue failed: ")
