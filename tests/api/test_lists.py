"""/v1/lists: admin keys manage named block and allow lists; bad entries are 422s that
name the entry; jobs name job-scoped lists, and an unknown one is a 422 naming it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from guardq.hashing import content_sha256
from guardq.store.cache import put_cached_verdicts
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.models import Job
from guardq.verdict import Mode, Severity, Verdict

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(make_key):
    return make_key(KeyRole.ADMIN, "admin")


def create(client, admin, **body):
    response = client.post("/v1/lists", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def test_an_admin_creates_fills_reads_empties_and_deletes_a_list(client, admin):
    made = create(
        client,
        admin,
        name="spam",
        kind="block",
        entries=[{"phrase": "Cheap  Pills"}, {"regex": r"v[i1]agra"}],
    )
    assert (made["kind"], made["scope"], made["skip_model"], made["entry_count"]) == (
        "block",
        "deployment",
        False,
        2,
    )
    # Phrases are stored normalised; regexes as written.
    assert [(e["kind"], e["pattern"]) for e in made["entries"]] == [
        ("phrase", "cheap  pills"),
        ("regex", "v[i1]agra"),
    ]
    added = client.post(
        "/v1/lists/spam/entries",
        json={"entries": [{"phrase": "ｆｒｅｅ ｍｏｎｅｙ"}, {"phrase": "cheap  pills"}]},
        headers=admin,
    ).json()
    # In bulk; an entry already there keeps its id.
    assert [e["pattern"] for e in added["entries"]] == ["free money", "cheap  pills"]
    assert added["entries"][1]["id"] == made["entries"][0]["id"]
    assert added["list"]["entry_count"] == 3

    listed = client.get("/v1/lists", headers=admin).json()["lists"]
    assert [(x["name"], x["entry_count"]) for x in listed] == [("spam", 3)]

    removed = client.post(
        "/v1/lists/spam/entries/remove",
        json={"ids": [made["entries"][1]["id"]], "entries": [{"phrase": "FREE MONEY"}]},
        headers=admin,
    ).json()
    assert (removed["removed"], removed["list"]["entry_count"]) == (2, 1)

    assert client.delete("/v1/lists/spam", headers=admin).status_code == 204
    assert client.get("/v1/lists/spam", headers=admin).status_code == 404


def test_an_allow_list_skips_the_model_unless_told_otherwise(client, admin):
    assert create(client, admin, name="ok", kind="allow")["skip_model"] is True
    made = create(client, admin, name="ok2", kind="allow", scope="job", skip_model=False)
    assert (made["skip_model"], made["scope"]) == (False, "job")


def test_lists_are_for_admin_keys_only(client, producer, make_key):
    for headers in (producer, make_key(KeyRole.REVIEWER)):
        response = client.post("/v1/lists", json={"name": "x", "kind": "block"}, headers=headers)
        assert response.status_code == 403
        assert client.get("/v1/lists", headers=headers).status_code == 403


def test_bad_entries_are_422s_naming_each_entry_and_nothing_is_written(client, admin):
    response = client.post(
        "/v1/lists",
        json={
            "name": "bad",
            "kind": "block",
            "entries": [
                {"phrase": "fine"},
                {"regex": "(unclosed"},
                {"regex": "x*"},
                {"phrase": "a", "regex": "b"},
                {"phrase": "\u200b"},
            ],
        },
        headers=admin,
    )
    assert response.status_code == 422
    problems = {e["field"]: e["msg"] for e in response.json()["detail"]}
    assert problems["entries[1].regex"].startswith("invalid regular expression")
    assert problems["entries[2].regex"] == "matches the empty string, so it would match every text"
    assert "exactly one" in problems["entries[3]"]
    assert "empty once normalised" in problems["entries[4].phrase"]
    assert client.get("/v1/lists/bad", headers=admin).status_code == 404


def test_names_unknown_lists_and_duplicates_are_answered_plainly(client, admin):
    response = client.post("/v1/lists", json={"name": "no spaces", "kind": "block"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "name"
    create(client, admin, name="dup", kind="block")
    again = client.post("/v1/lists", json={"name": "dup", "kind": "block"}, headers=admin)
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "a term list named 'dup' exists already",
    )
    for method, path, body in (
        ("post", "/v1/lists/nope/entries", {"entries": [{"phrase": "x"}]}),
        ("post", "/v1/lists/nope/entries/remove", {"ids": [1]}),
        ("delete", "/v1/lists/nope", None),
    ):
        answer = client.request(method, path, json=body, headers=admin)
        assert (answer.status_code, answer.json()["detail"]) == (
            404,
            "no term list named 'nope'",
        )


def test_a_job_names_its_lists_and_an_unknown_one_is_a_422_naming_it(
    client, admin, producer, factory
):
    create(client, admin, name="team-a", kind="block", scope="job")
    body = {"items": [{"text": "hello"}], "lists": ["team-a", "ghost"]}
    response = client.post("/v1/jobs", json=body, headers=producer)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["field"], error["msg"]) == ("lists[1]", "no term list named 'ghost'")

    body["lists"] = ["team-a"]
    assert client.post("/v1/jobs", json=body, headers=producer).status_code == 202
    with session_scope(factory) as session:
        assert session.scalar(select(Job.lists)) == ["team-a"]


def test_a_text_the_cache_answers_at_submit_is_screened_there_too(client, admin, producer, factory):
    text = "you can buy cheap pills here"
    with session_scope(factory) as session:
        put_cached_verdicts(
            session=session,
            model_id=client.app.state.settings.model,
            entries=[(Mode.PROMPT, content_sha256(text), Verdict(severity=Severity.SAFE))],
        )
    create(client, admin, name="spam", kind="block", entries=[{"phrase": "cheap pills"}])
    job = client.post("/v1/jobs", json={"items": [{"text": text}]}, headers=producer).json()
    # Done at submit, no worker: the cache answered and the list decided.
    assert job["status"] == "done"
    [item] = client.get(f"/v1/jobs/{job['id']}/results", headers=producer).json()["items"]
    assert (item["severity"], item["action"]) == ("Safe", "block")
    assert item["reason"].startswith("block list 'spam' entry ")
    assert item["list_hits"][0]["start"] == text.index("cheap")
