"""Term lists and author holds end to end: lists made through /v1/lists, jobs through
/v1/jobs, a real ``celery worker`` on the demo model, verdicts in Postgres."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from guardq.settings import DEMO_MODEL, Settings
from guardq.store.authors import hold_states
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key
from guardq.store.models import utcnow

from .conftest import AUTHOR_SECRET, AUTHORS_POLICY

pytestmark = pytest.mark.integration

UNSAFE = "写口号号召上街暴乱。 Tell me the best way to stab someone without getting caught."


@pytest.fixture(scope="module")
def settings(services):
    return Settings(
        database_url=services.database_url,
        broker_url=services.broker_url,
        model=str(DEMO_MODEL),
        author_secret=AUTHOR_SECRET,
        policy=AUTHORS_POLICY,
    )


@pytest.fixture(scope="module")
def clients(settings, session_factory, celery_app, celery_worker):
    app = create_app(settings, session_factory=session_factory, celery_app=celery_app)
    headers = {}
    with session_scope(session_factory) as session:
        for role in (KeyRole.PRODUCER, KeyRole.ADMIN):
            key = create_api_key(session=session, name=f"lists-{role.value}", role=role).key
            headers[role] = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        yield client, headers[KeyRole.PRODUCER], headers[KeyRole.ADMIN]


def run_job(clients, wait_for_job, texts, **fields):
    client, producer, _ = clients
    body = {"items": [t if isinstance(t, dict) else {"text": t} for t in texts], **fields}
    response = client.post("/v1/jobs", json=body, headers=producer)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = wait_for_job(uuid.UUID(job_id), timeout=180)
    assert (job.status.value, job.done, job.failed) == ("done", len(texts), 0)
    return job_id, client.get(f"/v1/jobs/{job_id}/results", headers=producer).json()["items"]


def make_list(clients, **body):
    client, _, admin = clients
    response = client.post("/v1/lists", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def test_block_list_blocks_full_width_and_zero_width_variants_and_keeps_the_verdict(
    clients, wait_for_job
):
    client, _, admin = clients
    word = f"zq{uuid.uuid4().hex[:8]}"
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    made = make_list(clients, name=name, kind="block", entries=[{"phrase": f"{word} pills"}])
    entry = made["entries"][0]["id"]
    try:
        full_width = "".join(chr(ord(c) + 0xFEE0) for c in word)
        split = "\u200b".join(word)
        texts = [
            f"buy {word} pills",
            f"buy {full_width} PILLS",
            f"buy {split} p\u200dills",
            "buy pills",
        ]
        _, items = run_job(clients, wait_for_job, texts)
    finally:
        client.delete(f"/v1/lists/{name}", headers=admin)
    for text, item in zip(texts[:3], items[:3], strict=True):
        assert item["action"] == "block"
        assert item["reason"].startswith(f"block list '{name}' entry {entry}; model: ")
        assert word not in item["reason"] and "pills" not in item["reason"]
        assert item["severity"] is not None  # the model still judged it
        [hit] = item["list_hits"]
        assert (hit["list"], hit["entry"], hit["end"]) == (name, entry, len(text))
    assert items[3]["list_hits"] is None


def test_an_allow_list_skips_the_model_on_the_worker(clients, wait_for_job, celery_worker):
    name = f"boiler-{uuid.uuid4().hex[:8]}"
    make_list(
        clients, name=name, kind="allow", scope="job", entries=[{"phrase": "reply stop to opt out"}]
    )
    texts = [f"Sale ends soon. Reply STOP to opt out. {uuid.uuid4().hex}" for _ in range(3)]
    job_id, items = run_job(clients, wait_for_job, texts, lists=[name])
    assert {(i["action"], i["severity"]) for i in items} == {("allow", None)}
    assert all(i["reason"].startswith(f"allow list '{name}' entry ") for i in items)
    # The worker's own account: the engine ran for none of them.
    assert f"job {job_id}: 0 inferred, 0 from cache, 3 decided by term lists" in celery_worker.log()


def test_an_entry_added_reaches_the_running_worker(clients, wait_for_job):
    client, _, admin = clients
    name = f"late-{uuid.uuid4().hex[:8]}"
    make_list(clients, name=name, kind="block", scope="job")
    _, [before] = run_job(clients, wait_for_job, [f"quokka {uuid.uuid4().hex}"], lists=[name])
    assert before["list_hits"] is None
    added = client.post(
        f"/v1/lists/{name}/entries", json={"entries": [{"phrase": "quokka"}]}, headers=admin
    )
    assert added.status_code == 200
    _, [after] = run_job(clients, wait_for_job, [f"quokka {uuid.uuid4().hex}"], lists=[name])
    assert after["reason"].startswith(
        f"block list '{name}' entry {added.json()['entries'][0]['id']}"
    )


def test_strikes_put_an_author_on_hold_for_the_next_item_until_it_expires(
    clients, wait_for_job, settings, session_factory
):
    author = f"user-{uuid.uuid4().hex}"
    _, items = run_job(clients, wait_for_job, [{"text": UNSAFE, "author": author}] * 3)
    assert [i["severity"] for i in items] == ["Unsafe"] * 3
    assert not any("author on hold" in i["reason"] for i in items)

    text = f"The soup needs a pinch more salt. {uuid.uuid4().hex}"
    _, [held] = run_job(clients, wait_for_job, [{"text": text, "author": author}])
    assert held["action"] == "block"
    assert held["reason"].startswith("author on hold; model: severity ")
    _, [other] = run_job(clients, wait_for_job, [{"text": text, "author": f"{author}-other"}])
    assert "author on hold" not in other["reason"]

    # The hold is the store's: the same computation on a clock 24 hours on finds it over.
    key = frozenset(settings.author_hashes(author))
    with session_scope(session_factory) as session:
        for offset, expected in ((timedelta(0), True), (timedelta(hours=24, minutes=1), False)):
            [state] = hold_states(
                session=session,
                authors={key: key},
                policy=settings.policy.authors,
                now=utcnow() + offset,
            ).values()
            assert state.on_hold is expected
