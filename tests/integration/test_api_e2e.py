"""The HTTP API end to end: a real ``celery worker`` on the demo model labels what the API
submits; verdicts and escalations land in Postgres; results come back through the API.
"""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from guardq.commands.demo import EXAMPLES
from guardq.hashing import content_sha256, pair_sha256
from guardq.settings import DEMO_MODEL, Settings
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key
from guardq.store.models import Base, Escalation, Item, VerdictRecord
from guardq.verdict import Category

pytestmark = pytest.mark.integration

ROWS = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
PROMPT_ROWS = [row for row in ROWS if "text" in row]
PAIR_ROWS = [row for row in ROWS if "response" in row]


@pytest.fixture(scope="module")
def api(services, session_factory, celery_app, celery_worker):
    settings = Settings(
        database_url=services.database_url,
        broker_url=services.broker_url,
        model=str(DEMO_MODEL),
        # Generous: the demo model on a busy 2-core machine; the 504 path has its own test.
        moderation_timeout_s=120,
    )
    app = create_app(settings, session_factory=session_factory, celery_app=celery_app)
    with session_scope(session_factory) as session:
        key = create_api_key(session=session, name="e2e", role=KeyRole.PRODUCER).key
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def submit_and_wait(api, wait_for_job, body):
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = wait_for_job(uuid.UUID(job_id), timeout=180)
    assert (job.status.value, job.done, job.failed) == ("done", job.total, 0)
    status = api.get(f"/v1/jobs/{job_id}").json()
    assert (status["status"], status["done"], status["failed"]) == ("done", job.total, 0)
    return job_id


def every_stored_value(session_factory):
    """(table, column, value as text) for every non-null value in the audit store."""
    with session_scope(session_factory) as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None:
                        yield table.name, column, json.dumps(value, default=str, ensure_ascii=False)


def test_a_job_submitted_through_the_api_is_labeled_by_the_worker(
    api, session_factory, wait_for_job
):
    items = [{"text": row["text"], "ref": row["ref"]} for row in PROMPT_ROWS]
    job_id = submit_and_wait(api, wait_for_job, {"mode": "prompt", "items": items})

    page = api.get(f"/v1/jobs/{job_id}/results?limit=3").json()
    results = page["items"]
    while page["next"]:
        page = api.get(page["next"]).json()
        results += page["items"]
    assert [r["ref"] for r in results] == [row["ref"] for row in PROMPT_ROWS]
    assert [r["content_sha256"] for r in results] == [content_sha256(i["text"]) for i in items]
    for result in results:
        assert result["status"] == "done"
        assert result["action"] in ("allow", "review", "block")
        assert result["severity"] in ("Safe", "Controversial", "Unsafe", None)
        assert set(result["categories"]) <= {category.value for category in Category}

    streamed = api.get(f"/v1/jobs/{job_id}/results", params={"format": "jsonl"}).text
    assert [json.loads(line) for line in streamed.splitlines()] == results

    with session_scope(session_factory) as session:
        rows = session.execute(
            select(Item.index, VerdictRecord.action, Escalation.id)
            .join(VerdictRecord, VerdictRecord.item_id == Item.id)
            .outerjoin(Escalation, Escalation.item_id == Item.id)
            .where(Item.job_id == uuid.UUID(job_id))
            .order_by(Item.index)
        ).all()
    assert [(index, action.value) for index, action, _ in rows] == [
        (r["index"], r["action"]) for r in results
    ]
    # An escalation exactly for the items the policy sent to review.
    assert [escalation is not None for _, _, escalation in rows] == [
        r["action"] == "review" for r in results
    ]


def test_a_response_mode_job_is_labeled_with_its_pair_hashes(api, wait_for_job):
    items = [{"prompt": r["prompt"], "response": r["response"], "ref": r["ref"]} for r in PAIR_ROWS]
    job_id = submit_and_wait(api, wait_for_job, {"mode": "response", "items": items})
    results = api.get(f"/v1/jobs/{job_id}/results").json()["items"]
    assert [r["content_sha256"] for r in results] == [
        pair_sha256(i["prompt"], i["response"]) for i in items
    ]
    assert all(r["status"] == "done" and r["action"] for r in results)


def test_moderations_answers_with_the_workers_verdicts(api):
    texts = [row["text"] for row in PROMPT_ROWS[:4]]
    response = api.post("/v1/moderations", json={"input": texts, "model": "omni-moderation-latest"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == f"modr-{uuid.UUID(body['job_id']).hex}"
    assert body["model"] == DEMO_MODEL.name
    assert len(body["results"]) == len(texts)
    for text, result in zip(texts, body["results"], strict=True):
        assert result["content_sha256"] == content_sha256(text)
        assert result["flagged"] == (result["action"] != "allow")
        assert set(result["categories"]) == {category.value for category in Category}
        named = [name for name, on in result["categories"].items() if on]
        assert all(0 < result["category_scores"][name] <= 1 for name in named)

    single = api.post("/v1/moderations", json={"input": texts[0]}).json()
    assert [r["content_sha256"] for r in single["results"]] == [content_sha256(texts[0])]


def test_no_submitted_text_is_stored_except_what_escalations_retain(
    api, session_factory, wait_for_job
):
    # Runs after the tests above (file order): every text they submitted is looked for.
    texts = {row[field] for row in ROWS for field in ("text", "prompt", "response") if field in row}
    with session_scope(session_factory) as session:
        kept = session.execute(
            select(Escalation.retained_text, Escalation.retained_prompt).join(
                Item, Item.id == Escalation.item_id
            )
        ).all()
    # The one exception: a reviewer must read an escalated item's content (and, for a
    # response, the prompt it answers).
    allowed = {
        ("escalations", "retained_text"): {text for text, _ in kept},
        ("escalations", "retained_prompt"): {prompt for _, prompt in kept},
    }
    for table, column, value in every_stored_value(session_factory):
        for text in texts:
            if text in value:
                assert (table, column) in allowed, (table, column)
                assert json.loads(value) in allowed[(table, column)]
