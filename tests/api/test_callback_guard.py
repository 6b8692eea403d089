"""A job's callback_url is refused at submit (422 naming the problem) when it leads to a
loopback, link-local, private or unique-local address, unless GUARDQ_CALLBACK_ALLOW
allows it; nothing of such a job is stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from guardq.store.db import session_scope
from guardq.store.models import Job

pytestmark = pytest.mark.integration

HOSTS = {"metadata.test": ["169.254.169.254"], "hooks.example.com": ["93.184.215.14"]}


def resolve(host: str, _port: int) -> list[str]:
    if host not in HOSTS:
        raise OSError(host)
    return HOSTS[host]


def _client(settings, factory, **changes):
    app = create_app(settings.model_copy(update=changes), session_factory=factory, resolver=resolve)
    return TestClient(app)


def _job(url: str) -> dict:
    return {"items": [{"text": "hello"}], "callback_url": url}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:9000/hook", "is 127.0.0.1, a loopback address"),
        ("http://10.0.0.8/hook", "is 10.0.0.8, a private address"),
        ("http://172.16.4.4/hook", "is 172.16.4.4, a private address"),
        ("http://192.168.10.1/hook", "is 192.168.10.1, a private address"),
        ("http://169.254.169.254/latest/meta-data/", "is 169.254.169.254, a link-local address"),
        ("http://[::1]:9000/hook", "is ::1, a loopback address"),
        ("http://[fd00::5]/hook", "is fd00::5, a unique-local address"),
        ("http://metadata.test/latest", "resolves to 169.254.169.254, a link-local"),
        ("http://nowhere.test/hook", "'nowhere.test' does not resolve"),
    ],
)
def test_a_callback_to_an_inside_address_is_422_naming_it(
    settings, factory, redis, producer, url, problem
):
    with _client(settings, factory) as client:
        response = client.post("/v1/jobs", json=_job(url), headers=producer)
    assert response.status_code == 422, response.text
    (entry,) = response.json()["detail"]
    assert entry["field"] == "callback_url" and entry["type"] == "forbidden_destination"
    assert problem in entry["msg"]
    with session_scope(factory) as session:
        assert session.scalar(select(func.count(Job.id))) == 0


def test_a_public_callback_and_an_allowed_inside_one_are_accepted(
    settings, factory, redis, producer
):
    with _client(settings, factory, callback_allow=("10.20.0.0/16", "metadata.test")) as client:
        for url in (
            "https://hooks.example.com/hook",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/hook",  # public IPv6
            "http://10.20.3.4:8080/hook",
            "http://metadata.test/x",
        ):
            response = client.post("/v1/jobs", json=_job(url), headers=producer)
            assert response.status_code == 202, response.text
            assert response.json()["callback_url"] == url
        refused = client.post("/v1/jobs", json=_job("http://10.21.0.1/x"), headers=producer)
    assert refused.status_code == 422


def test_an_alert_url_needs_the_signing_secret_and_a_public_address(
    settings, factory, redis, producer
):
    body = {"items": [{"text": "hello"}], "alert_url": "https://hooks.example.com/alerts"}
    with _client(settings, factory) as client:
        unsigned = client.post("/v1/jobs", json=body, headers=producer)
    assert unsigned.status_code == 422
    assert "GUARDQ_SIGNING_SECRET is not set" in unsigned.json()["detail"][0]["msg"]

    with _client(settings, factory, signing_secret="a-long-enough-secret") as client:
        accepted = client.post("/v1/jobs", json=body, headers=producer)
        inside = {**body, "alert_url": "http://metadata.test/alerts"}
        refused = client.post("/v1/jobs", json=inside, headers=producer)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["alert_url"] == "https://hooks.example.com/alerts"
    assert refused.status_code == 422
    (entry,) = refused.json()["detail"]
    assert entry["field"] == "alert_url" and "169.254.169.254, a link-local" in entry["msg"]
