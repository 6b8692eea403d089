"""Per-key rate limits, counted in Redis: shared by API processes, items counted for
bulk jobs too, 429 with Retry-After and OpenAI's x-ratelimit headers."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key, set_api_key_limits

pytestmark = pytest.mark.integration


def _key(factory, **limits) -> tuple[uuid.UUID, dict[str, str]]:
    with session_scope(factory) as session:
        created = create_api_key(session=session, name="limited", role=KeyRole.PRODUCER, **limits)
    return created.info.id, {"Authorization": f"Bearer {created.key}"}


def test_two_api_processes_share_one_limit_and_the_61st_request_gets_429(
    api_process, redis, factory, tmp_path
):
    _, headers = _key(factory, rpm=60)
    processes = [api_process(tmp_path / f"api{n}.log") for n in (1, 2)]  # stopped after
    answers = []
    for n in range(61):
        _, base = processes[n % 2]
        answers.append(httpx.get(f"{base}/v1/jobs/{uuid.uuid4()}", headers=headers))
    assert [a.status_code for a in answers[:60]] == [404] * 60
    remaining = [int(a.headers["x-ratelimit-remaining-requests"]) for a in answers[:60]]
    assert remaining == list(range(59, -1, -1))
    last = answers[60]
    assert last.status_code == 429, last.text
    assert last.headers["x-ratelimit-limit-requests"] == "60"
    assert last.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(last.headers["retry-after"]) <= 60
    assert last.headers["x-ratelimit-reset-requests"].endswith("s")
    assert "60 requests per minute" in last.json()["detail"]


def _job(count: int, priority: str = "realtime") -> dict:
    return {"priority": priority, "items": [{"text": f"item {n}"} for n in range(count)]}


def test_items_per_minute_count_every_item_of_realtime_and_bulk_jobs(
    settings, factory, redis, producer
):
    key_id, headers = _key(factory, ipm=5)
    # New limits reach an API process within GUARDQ_KEY_CACHE_S (tests/api/test_auth.py);
    # none here, so that the lifted limit applies to the very next request.
    fresh = settings.model_copy(update={"key_cache_s": 0})
    with TestClient(create_app(fresh, session_factory=factory)) as client:
        first = client.post("/v1/jobs", json=_job(3, "bulk"), headers=headers)
        assert first.status_code == 202, first.text
        assert first.headers["x-ratelimit-limit-tokens"] == "5"
        assert first.headers["x-ratelimit-remaining-tokens"] == "2"
        over = client.post("/v1/jobs", json=_job(3), headers=headers)
        assert over.status_code == 429, over.text
        assert over.headers["x-ratelimit-remaining-tokens"] == "2"
        assert int(over.headers["retry-after"]) >= 1
        assert "5 items per minute" in over.json()["detail"]
        full = client.post("/v1/jobs", json=_job(2), headers=headers)
        assert full.status_code == 202
        assert full.headers["x-ratelimit-remaining-tokens"] == "0"
        assert client.post("/v1/jobs", json=_job(1), headers=headers).status_code == 429
        # A key without limits; a limit lifted applies from the key's next request.
        assert client.post("/v1/jobs", json=_job(5), headers=producer).status_code == 202
        with session_scope(factory) as session:
            set_api_key_limits(session=session, key_id=key_id, ipm=None)
        assert client.post("/v1/jobs", json=_job(5), headers=headers).status_code == 202
    # More items than a minute allows can never pass: a 422 that says so.
    _, small = _key(factory, ipm=4)
    with TestClient(create_app(settings, session_factory=factory)) as client:
        refused = client.post("/v1/jobs", json=_job(5), headers=small)
    assert refused.status_code == 422, refused.text
    assert "more than this key's limit of 4 items per minute" in refused.json()["detail"][0]["msg"]


def test_a_limited_key_is_answered_503_when_redis_is_down(settings, factory, redis, free_port):
    _, headers = _key(factory, rpm=10)
    down = settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port}/0"})
    with TestClient(create_app(down, session_factory=factory)) as client:
        response = client.get(f"/v1/jobs/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 503
    assert response.json()["detail"] == "the broker (Redis) is unreachable"
    assert response.headers["retry-after"] == "5"


def test_the_openai_endpoint_counts_its_input_strings_as_items(settings, factory, redis):
    _, headers = _key(factory, ipm=2)
    with TestClient(create_app(settings, session_factory=factory)) as client:
        # No worker runs here: the first waits out its timeout (504), having counted 2.
        first = client.post("/v1/moderations", json={"input": ["a", "b"]}, headers=headers)
        second = client.post("/v1/moderations", json={"input": "c"}, headers=headers)
    assert first.status_code == 504
    assert first.headers["x-ratelimit-remaining-tokens"] == "0"
    assert second.status_code == 429
    assert second.headers["x-ratelimit-limit-tokens"] == "2"
