"""Authors through the API: ids kept as HMACs, non-string ids refused, strikes turning
into a hold that expires on the app's (injected) clock, an admin lifting it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from guardq.authors import author_hash
from guardq.policy import Action, Decision
from guardq.settings import Settings
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.models import AuthorEvent, Item, utcnow
from guardq.store.verdicts import record_verdict
from guardq.verdict import Category, Severity, Verdict

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-the-author-tests"
POLICY = {"authors": {"unsafe_strikes": 3, "window": "P1D", "hold": "PT24H"}}


@pytest.fixture
def authors_client(database_url, redis_url, factory, redis):
    settings = Settings(
        database_url=database_url,
        broker_url=redis_url,
        author_secret=SECRET,
        policy=json.dumps(POLICY),
    )
    app = create_app(settings, session_factory=factory)
    with TestClient(app) as client:
        yield client


def submit(client, headers, items):
    response = client.post("/v1/jobs", json={"items": items}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def judge(factory, job_id, severity):
    with session_scope(factory) as session:
        for item_id in session.scalars(select(Item.id).where(Item.job_id == job_id)).all():
            record_verdict(
                session=session,
                item_id=item_id,
                verdict=Verdict(severity=severity, categories=(Category.VIOLENT,)),
                decision=Decision(Action.BLOCK, "severity Unsafe"),
                model_id="m",
            )


def test_the_store_keeps_the_authors_hmac_never_the_id(authors_client, make_key, factory):
    submit(authors_client, make_key(), [{"text": "hi", "author": "user-42"}, {"text": "yo"}])
    with session_scope(factory) as session:
        hashes = session.scalars(select(Item.author_hash).order_by(Item.index)).all()
    assert hashes == [author_hash(SECRET, "user-42"), None]


@pytest.mark.parametrize("author", [42, None, ["u"], {"id": "u"}, True, ""])
def test_an_author_that_is_not_a_non_empty_string_is_a_422_naming_it(
    authors_client, make_key, author
):
    body = {"items": [{"text": "hi"}, {"text": "hi", "author": author}]}
    response = authors_client.post("/v1/jobs", json=body, headers=make_key())
    if author is None:
        assert response.status_code == 202
        return
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["items[1].author"]


def test_without_a_secret_authors_are_refused_naming_the_setting(client, producer):
    body = {"items": [{"text": "hi", "author": "u"}]}
    response = client.post("/v1/jobs", json=body, headers=producer)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "items[0].author"
    assert "GUARDQ_AUTHOR_SECRET" in error["msg"]


def test_strikes_hold_the_author_until_the_hold_expires_on_the_clock(
    authors_client, make_key, factory
):
    producer, reviewer = make_key(), make_key(KeyRole.REVIEWER)
    judge(
        factory,
        submit(authors_client, producer, [{"text": "x", "author": "u1"}] * 2),
        Severity.UNSAFE,
    )
    # Another author's strikes, and this author's Safe verdicts, do not count.
    judge(
        factory, submit(authors_client, producer, [{"text": "x", "author": "u2"}]), Severity.UNSAFE
    )
    judge(factory, submit(authors_client, producer, [{"text": "x", "author": "u1"}]), Severity.SAFE)
    standing = authors_client.get("/v1/authors/u1", headers=reviewer).json()
    assert (standing["strikes"], standing["on_hold"], standing["threshold"]) == (2, False, 3)

    judge(
        factory, submit(authors_client, producer, [{"text": "x", "author": "u1"}]), Severity.UNSAFE
    )
    standing = authors_client.get("/v1/authors/u1", headers=reviewer).json()
    assert (standing["strikes"], standing["on_hold"]) == (3, True)
    assert standing["author_hash"] == author_hash(SECRET, "u1")
    assert "u1" not in json.dumps(standing)

    later = utcnow() + timedelta(hours=24, minutes=1)
    authors_client.app.state.clock = lambda: later
    standing = authors_client.get("/v1/authors/u1", headers=reviewer).json()
    assert (standing["on_hold"], standing["strikes"]) == (False, 0)


def test_an_admin_lifts_a_hold_with_a_trail_row(authors_client, make_key, factory):
    producer, admin = make_key(), make_key(KeyRole.ADMIN)
    judge(
        factory,
        submit(authors_client, producer, [{"text": "x", "author": "u3"}] * 3),
        Severity.UNSAFE,
    )
    assert (
        authors_client.post("/v1/authors/u3/lift", headers=make_key(KeyRole.REVIEWER)).status_code
        == 403
    )
    lifted = authors_client.post("/v1/authors/u3/lift", headers=admin)
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["on_hold"], lifted.json()["strikes"]) == (False, 0)
    [event] = lifted.json()["events"]
    assert (event["action"], event["before"]["on_hold"], event["after"]["on_hold"]) == (
        "lifted",
        True,
        False,
    )
    with session_scope(factory) as session:
        row = session.scalar(select(AuthorEvent))
        assert row.author_hash == author_hash(SECRET, "u3")
    again = authors_client.post("/v1/authors/u3/lift", headers=admin)
    assert (again.status_code, again.json()["detail"]) == (409, "this author is not on hold")


def test_author_standing_needs_an_author_policy(client, make_key):
    response = client.get("/v1/authors/u1", headers=make_key(KeyRole.ADMIN))
    assert response.status_code == 409
    assert "policy.authors" in response.json()["detail"]
