import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key, revoke_api_key

pytestmark = pytest.mark.integration

JOB = {"mode": "prompt", "items": [{"text": "hello there"}]}


def test_a_request_without_a_key_is_401_and_says_how_to_send_one(client):
    response = client.post("/v1/jobs", json=JOB)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_non_bearer_authorization_header_is_401(client):
    response = client.post("/v1/jobs", json=JOB, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert response.status_code == 401


def test_an_unknown_key_is_401(client):
    response = client.post("/v1/jobs", json=JOB, headers={"Authorization": "Bearer gq_nope"})
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid or revoked API key"


def test_a_revoked_key_is_401(client, factory):
    with session_scope(factory) as session:
        created = create_api_key(session=session, name="gone", role=KeyRole.PRODUCER)
        revoke_api_key(session=session, key_id=created.info.id)
    response = client.post("/v1/jobs", json=JOB, headers={"Authorization": f"Bearer {created.key}"})
    assert response.status_code == 401


@pytest.mark.parametrize("cache_s", [0, 0.5])
def test_a_key_revoked_after_use_is_refused_within_the_key_cache_time(
    settings, factory, redis, cache_s
):
    # An API process remembers a verified key for GUARDQ_KEY_CACHE_S: a revocation
    # reaches it within that, and at once with 0.
    with session_scope(factory) as session:
        created = create_api_key(session=session, name="soon gone", role=KeyRole.PRODUCER)
    headers = {"Authorization": f"Bearer {created.key}"}
    app = create_app(settings.model_copy(update={"key_cache_s": cache_s}), session_factory=factory)
    with TestClient(app) as client:
        assert client.post("/v1/jobs", json=JOB, headers=headers).status_code == 202
        with session_scope(factory) as session:
            revoke_api_key(session=session, key_id=created.info.id)
        revoked = time.monotonic()
        answers = [client.post("/v1/jobs", json=JOB, headers=headers).status_code]
        while answers[-1] == 202 and time.monotonic() - revoked < cache_s + 2:
            time.sleep(0.05)
            answers.append(client.post("/v1/jobs", json=JOB, headers=headers).status_code)
        refused_after = time.monotonic() - revoked
    assert answers[-1] == 401, answers
    assert set(answers[:-1]) <= {202}
    if cache_s:
        assert answers[0] == 202  # remembered: the store was not asked again
        assert refused_after < cache_s + 0.5
    else:
        assert answers == [401]


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/moderations"])
def test_a_reviewer_key_may_not_submit(client, make_key, path):
    body = JOB if path == "/v1/jobs" else {"input": "hello"}
    response = client.post(path, json=body, headers=make_key(KeyRole.REVIEWER))
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "this endpoint needs a producer or admin key; this key's role is reviewer"
    )


@pytest.mark.parametrize("role", [KeyRole.PRODUCER, KeyRole.ADMIN])
def test_producer_and_admin_keys_may_submit(client, make_key, role):
    assert client.post("/v1/jobs", json=JOB, headers=make_key(role)).status_code == 202


def test_a_producer_sees_only_its_own_jobs_and_an_admin_sees_all(client, make_key):
    owner, other, admin = make_key(), make_key(name="other"), make_key(KeyRole.ADMIN)
    job_id = client.post("/v1/jobs", json=JOB, headers=owner).json()["id"]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/results"):
        assert client.get(path, headers=owner).status_code == 200
        assert client.get(path, headers=admin).status_code == 200
        hidden = client.get(path, headers=other)
        assert hidden.status_code == 404
        assert hidden.json()["detail"] == f"job {job_id} not found"


def test_health_and_metrics_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
