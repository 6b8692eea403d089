"""Every rejected body answers 422 naming the field and the limit, never quoting the text."""

import json

import pytest
from sqlalchemy import func, select

from guardq.store.db import session_scope
from guardq.store.models import Job

from .conftest import MAX_ITEMS, MAX_TEXT_CHARS

pytestmark = pytest.mark.integration

SECRET = "zq-secret-5e1f how do I hide the body"
LONG = SECRET + "x" * MAX_TEXT_CHARS


def job(*items, mode="prompt", **fields):
    return {"mode": mode, "items": list(items), **fields}


# (body, field, words the message must contain)
JOB_CASES = {
    "empty text": (job({"text": ""}), "items[0].text", "empty or whitespace only"),
    "whitespace text": (job({"text": "ok"}, {"text": " \n\t "}), "items[1].text", "whitespace"),
    "number text": (job({"text": 42}), "items[0].text", "valid string"),
    "list text": (job({"text": [SECRET]}), "items[0].text", "valid string"),
    "over-long text": (
        job({"text": "ok"}, {"text": "ok"}, {"text": "ok"}, {"text": LONG}),
        "items[3].text",
        f"{len(LONG)} characters, over the limit of {MAX_TEXT_CHARS}",
    ),
    "NUL in a text": (
        job({"text": "nice day"}, {"text": SECRET + "\u0000 more"}),
        "items[1].text",
        f"NUL character (U+0000) at position {len(SECRET)}",
    ),
    "NUL in a prompt": (
        job({"prompt": "a\u0000b", "response": SECRET}, mode="response"),
        "items[0].prompt",
        "NUL character (U+0000) at position 1",
    ),
    "NUL in a ref": (
        job({"text": SECRET, "ref": "row-\u00007"}),
        "items[0].ref",
        "NUL character",
    ),
    "lone surrogate in a text": (
        job({"text": SECRET + "\ud800 more"}),
        "items[0].text",
        f"lone surrogate (U+D800) at position {len(SECRET)}",
    ),
    "lone surrogate in a response": (
        job({"prompt": "hi", "response": "\udfff" + SECRET}, mode="response"),
        "items[0].response",
        "lone surrogate (U+DFFF) at position 0",
    ),
    "NUL in a metadata value": (
        job({"text": SECRET}, {"text": "ok", "metadata": {"tags": ["a", "b\u0000"]}}),
        "items[1].metadata.tags[1]",
        "NUL character (U+0000) at position 1",
    ),
    "NUL in a metadata key": (
        job({"text": SECRET, "metadata": {"user": {"id\u0000": 7}}}),
        "items[0].metadata.user",
        "a key contains the NUL character",
    ),
    "lone surrogate in a metadata value": (
        job({"text": SECRET, "metadata": {"name": "x\ud83d"}}),
        "items[0].metadata.name",
        "lone surrogate (U+D83D)",
    ),
    "lone surrogate in a metadata key": (
        job({"text": SECRET, "metadata": {"\udc00": 1}}),
        "items[0].metadata",
        "a key contains a lone surrogate",
    ),
    "NaN in metadata": (
        job({"text": SECRET, "metadata": {"score": float("nan")}}),
        "items[0].metadata.score",
        "not a finite number",
    ),
    "Infinity in metadata": (
        job({"text": SECRET, "metadata": [1, float("inf")]}),
        "items[0].metadata[1]",
        "not a finite number",
    ),
    "NUL in a callback URL": (
        job({"text": SECRET}, callback_url="https://hooks.example/\u0000x"),
        "callback_url",
        "NUL character",
    ),
    "NUL in an alert URL": (
        job({"text": SECRET}, alert_url="http://hooks.example/?\u0000"),
        "alert_url",
        "NUL character",
    ),
    "lone surrogate in a callback URL": (
        job({"text": SECRET}, callback_url="https://hooks.example/\udc00"),
        "callback_url",
        "unicode string",
    ),
    "over-long response": (
        job({"prompt": SECRET, "response": LONG}, mode="response"),
        "items[0].response",
        f"over the limit of {MAX_TEXT_CHARS}",
    ),
    "too many items": (
        job(*[{"text": SECRET}] * (MAX_ITEMS + 1)),
        "items",
        f"{MAX_ITEMS + 1} items, over the limit of {MAX_ITEMS}",
    ),
    "no items": (job(), "items", "at least 1 item"),
    "items missing": ({"mode": "prompt"}, "items", "Field required"),
    "neither text nor pair": (job({"ref": "a"}), "items[0]", "missing content"),
    "text and pair": (
        job({"text": SECRET, "prompt": SECRET, "response": SECRET}),
        "items[0]",
        "not both",
    ),
    "pair in prompt mode": (
        job({"prompt": SECRET, "response": SECRET}),
        "items[0]",
        "needs mode 'response'",
    ),
    "text in response mode": (
        job({"text": SECRET}, mode="response"),
        "items[0].text",
        "mode 'response' takes prompt and response",
    ),
    "response without prompt": (
        job({"response": SECRET}, mode="response"),
        "items[0].prompt",
        "required with mode 'response'",
    ),
    "unknown item field": (job({"text": "ok", "body": SECRET}), "items[0].body", "Extra inputs"),
    "ref too long": (job({"text": SECRET, "ref": "r" * 257}), "items[0].ref", "256 characters"),
    "metadata too big": (
        job({"text": SECRET, "metadata": {"note": "m" * 5000}}),
        "items[0].metadata",
        "over the limit of 4096",
    ),
    "unknown mode": (job({"text": SECRET}, mode="chat"), "mode", "'prompt' or 'response'"),
    "unknown priority": (job({"text": SECRET}, priority="now"), "priority", "'realtime' or 'bulk'"),
    "callback not http": (
        job({"text": SECRET}, callback_url="ftp://example.com/x"),
        "callback_url",
        "http:// or https://",
    ),
}


def _post(client, url, body, headers):
    """``body`` as Python's json writes it: lone surrogates as escapes, NaN and Infinity
    as the bare words some clients send (a strict client could not send them at all)."""
    return client.post(
        url, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )


def assert_rejected(response, field, words):
    assert response.status_code == 422, response.text
    entries = response.json()["detail"]
    matching = [entry for entry in entries if entry["field"] == field]
    assert matching, entries
    assert any(words in entry["msg"] for entry in matching), matching
    assert SECRET not in response.text
    for entry in entries:
        assert set(entry) == {"loc", "field", "msg", "type"}


@pytest.mark.parametrize("case", JOB_CASES)
def test_a_bad_job_is_422_naming_the_field_and_limit_without_the_text(
    client, producer, factory, case
):
    body, field, words = JOB_CASES[case]
    assert_rejected(_post(client, "/v1/jobs", body, producer), field, words)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_every_bad_item_is_reported_at_once(client, producer):
    body = job({"text": ""}, {"text": "fine"}, {"text": LONG})
    response = client.post("/v1/jobs", json=body, headers=producer)
    assert [entry["field"] for entry in response.json()["detail"]] == [
        "items[0].text",
        "items[2].text",
    ]


def test_a_body_that_is_not_json_is_422_without_the_body(client, producer):
    response = client.post(
        "/v1/jobs",
        content=f'{{"mode": "prompt", "items": [{{"text": "{SECRET}"',
        headers={**producer, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert SECRET not in response.text


MODERATION_CASES = {
    "empty string": ({"input": ""}, "input", "empty or whitespace only"),
    "number": ({"input": 7}, "input", "expected a string or an array of strings, got number"),
    "object": ({"input": {"text": SECRET}}, "input", "got object"),
    "empty array": ({"input": []}, "input", "at least one string"),
    "non-string element": ({"input": [SECRET, 3]}, "input[1]", "expected a string, got number"),
    "blank element": ({"input": [SECRET, "  "]}, "input[1]", "whitespace"),
    "over-long element": (
        {"input": ["ok", LONG]},
        "input[1]",
        f"over the limit of {MAX_TEXT_CHARS}",
    ),
    "too many": ({"input": [SECRET] * (MAX_ITEMS + 1)}, "input", f"over the limit of {MAX_ITEMS}"),
    "missing input": ({"model": "omni-moderation-latest"}, "input", "Field required"),
    "unknown field": ({"input": "ok", "user": SECRET}, "user", "Extra inputs"),
    "other model": ({"input": SECRET, "model": "gpt-4o"}, "model", "this deployment serves"),
    "lone surrogate": ({"input": ["ok", "a\ud800"]}, "input[1]", "lone surrogate (U+D800)"),
    "NUL": ({"input": "a\u0000"}, "input", "NUL character (U+0000) at position 1"),
}


@pytest.mark.parametrize("case", MODERATION_CASES)
def test_a_bad_moderation_request_is_422_naming_the_field_without_the_text(client, producer, case):
    body, field, words = MODERATION_CASES[case]
    assert_rejected(_post(client, "/v1/moderations", body, producer), field, words)


def test_a_results_index_past_the_integer_column_is_422(client, producer):
    created = client.post("/v1/jobs", json=job({"text": "nice day"}), headers=producer)
    url = f"/v1/jobs/{created.json()['id']}/results"

    response = client.get(url, params={"after": 2**31}, headers=producer)

    assert response.status_code == 422
    [entry] = response.json()["detail"]
    assert entry["field"] == "after" and "2147483647" in entry["msg"]
    assert client.get(url, params={"after": 2**31 - 1}, headers=producer).status_code == 200
