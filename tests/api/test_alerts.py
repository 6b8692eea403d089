"""A blocked verdict the cache answers at submission is alerted by the API itself, after
its commit, like the workers' (no worker runs here: the message waits in Redis)."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from guardq.hashing import content_sha256
from guardq.queue import CALLBACKS, SEND_ALERT
from guardq.store.cache import put_cached_verdicts
from guardq.store.db import session_scope
from guardq.verdict import Category, Mode, Severity, Verdict

pytestmark = pytest.mark.integration

TEXT = "a cached text the alert must not carry"


def test_a_cached_blocked_item_is_alerted_from_the_submission(settings, factory, redis, producer):
    settings = settings.model_copy(update={"signing_secret": "a-long-enough-secret"})
    with session_scope(factory) as session:
        put_cached_verdicts(
            session=session,
            model_id=settings.model,
            entries=[
                (
                    Mode.PROMPT,
                    content_sha256(TEXT),
                    Verdict(severity=Severity.UNSAFE, categories=(Category.VIOLENT,)),
                )
            ],
        )
    body = {"items": [{"text": TEXT}], "alert_url": "https://93.184.215.14/alerts"}
    with TestClient(create_app(settings, session_factory=factory)) as client:
        response = client.post("/v1/jobs", json=body, headers=producer)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "done"
    (raw,) = redis.lrange(CALLBACKS, 0, -1)
    message = json.loads(raw)
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert message["headers"]["task"] == SEND_ALERT
    assert kwargs["url"] == "https://93.184.215.14/alerts"
    assert kwargs["event"]["content_sha256"] == content_sha256(TEXT)
    assert kwargs["event"]["action"] == "block"
    assert TEXT.encode() not in raw
