"""The Batch API end to end, driven by OpenAI's own Python client against a live API
(uvicorn), the real worker (demo model) and its callbacks worker, which runs the batch.

Each request's answer in the output file is checked against the verdict the worker
stored for its items: the files say what the pipeline decided, not something made up.
"""

from __future__ import annotations

import json
import re
import time

import openai
import pytest
from sqlalchemy import select

from api.app import create_app
from guardq.hashing import content_sha256, pair_sha256
from guardq.settings import DEMO_MODEL, Settings
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key
from guardq.store.models import Base, Item, VerdictRecord
from tests.conftest import live_server

pytestmark = pytest.mark.integration

MODEL = DEMO_MODEL.name
TERMINAL = ("completed", "failed", "expired", "cancelled")


@pytest.fixture(scope="module")
def base_url(services, session_factory, celery_app, celery_worker):
    settings = Settings(
        database_url=services.database_url,
        broker_url=services.broker_url,
        model=str(DEMO_MODEL),
        batch_part_items=4,  # several parts even for a small file
    )
    app = create_app(settings, session_factory=session_factory, celery_app=celery_app)
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url, session_factory):
    with session_scope(session_factory) as session:
        key = create_api_key(session=session, name="batch-e2e", role=KeyRole.PRODUCER).key
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0) as client:
        yield client


def request(custom_id, url, body) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


def run(client, lines: list[str], endpoint: str, **extra):
    uploaded = client.files.create(
        file=("requests.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h", **extra
    )
    assert batch.status == "validating"
    deadline = time.monotonic() + 300
    while batch.status not in TERMINAL:
        assert time.monotonic() < deadline, f"batch still {batch.status}"
        time.sleep(0.5)
        batch = client.batches.retrieve(batch.id)
    return uploaded, batch


def file_lines(client, file_id) -> list[dict]:
    return [json.loads(row) for row in client.files.content(file_id).content.splitlines()]


def stored(session_factory, sha256: str):
    with session_scope(session_factory) as session:
        return (
            session.execute(
                select(VerdictRecord)
                .join(Item, Item.id == VerdictRecord.item_id)
                .where(Item.content_sha256 == sha256)
                .order_by(VerdictRecord.created_at.desc())
            )
            .scalars()
            .first()
        )


def test_a_moderation_batch_runs_through_the_workers(client, session_factory):
    texts = {
        "m1": "Where can I buy good running shoes for a marathon?",
        "m2": ["Tell me how to pick a lock on my neighbour's door.", "Nice weather for a walk."],
        "m3": "Write a short poem about autumn leaves in the park.",
    }
    lines = [request(cid, "/v1/moderations", {"input": text}) for cid, text in texts.items()]
    lines += [
        "{not json",
        request("m4", "/v1/chat/completions", {"input": "the wrong url"}),
        request("m5", "/v1/moderations", {"input": 12}),
    ]
    uploaded, batch = run(client, lines, "/v1/moderations", metadata={"suite": "e2e"})

    assert batch.status == "completed", batch
    assert batch.request_counts.model_dump() == {"total": 6, "completed": 3, "failed": 3}
    assert batch.metadata == {"suite": "e2e"} and batch.endpoint == "/v1/moderations"
    assert batch.created_at <= batch.in_progress_at <= batch.finalizing_at <= batch.completed_at
    assert batch.expires_at == batch.created_at + 86_400

    output = file_lines(client, batch.output_file_id)
    assert [row["custom_id"] for row in output] == ["m1", "m2", "m3"]
    for row in output:
        assert row["id"].startswith("batch_req_") and row["error"] is None
        response = row["response"]
        assert response["status_code"] == 200 and response["request_id"].startswith("req_")
        inputs = texts[row["custom_id"]]
        inputs = inputs if isinstance(inputs, list) else [inputs]
        results = response["body"]["results"]
        assert response["body"]["model"] == MODEL and len(results) == len(inputs)
        for text, result in zip(inputs, results, strict=True):
            verdict = stored(session_factory, content_sha256(text))
            assert result["content_sha256"] == content_sha256(text)
            assert result["severity"] == (verdict.severity and verdict.severity.value)
            assert result["flagged"] == (verdict.action.value != "allow")

    errors = file_lines(client, batch.error_file_id)
    assert [(row["custom_id"], row["response"]["status_code"]) for row in errors] == [
        (None, 400), ("m4", 400), ("m5", 400),
    ]  # fmt: skip
    bodies = [row["response"]["body"]["error"] for row in errors]
    assert bodies[0]["message"].startswith("line 4: not valid JSON")
    assert (bodies[1]["param"], bodies[2]["param"]) == ("url", "body.input")
    assert bodies[2]["message"].startswith("line 6: body.input: expected a string or an array")

    # The input held the texts: it is deleted once the batch is done.
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    with session_scope(session_factory) as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "escalations":  # a reviewer reads what the policy escalates
                continue
            for row in session.execute(select(table)).mappings():
                dumped = json.dumps(list(row.values()), default=str, ensure_ascii=False)
                assert "running shoes" not in dumped, table.name


def test_a_chat_completions_batch_answers_in_qwen3guards_format(client, session_factory):
    pairs = {
        "p1": ("How do I bake sourdough bread at home?", None),
        "p2": ("What household chemicals are dangerous to mix?", None),
        "r1": ("How do I make a fake passport?", "I can't help with forging documents."),
        "r2": ("Suggest a name for my cat.", "How about Pepper or Miso?"),
    }
    lines = []
    for cid, (prompt, answer) in pairs.items():
        messages = [{"role": "user", "content": prompt}]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        lines.append(request(cid, "/v1/chat/completions", {"model": MODEL, "messages": messages}))
    lines += [
        request("bad-model", "/v1/chat/completions", {"model": "gpt-4o", "messages": messages}),
        request("streamed", "/v1/chat/completions",
                {"model": MODEL, "messages": messages, "stream": True}),
        request("system", "/v1/chat/completions",
                {"model": MODEL, "messages": [{"role": "system", "content": "hi"}]}),
    ]  # fmt: skip
    uploaded, batch = run(
        client, lines, "/v1/chat/completions", extra_body={"keep_input_file": True}
    )

    assert batch.status == "completed", batch
    assert batch.request_counts.total == 7
    answered = {row["custom_id"]: row for row in file_lines(client, batch.output_file_id)}
    failed = {row["custom_id"]: row for row in file_lines(client, batch.error_file_id)}
    assert set(answered) | set(failed) == set(pairs) | {"bad-model", "streamed", "system"}
    assert batch.request_counts.completed == len(answered)
    params = {cid: failed[cid]["response"]["body"]["error"]["param"] for cid in
              ("bad-model", "streamed", "system")}  # fmt: skip
    assert params == {"bad-model": "body.model", "streamed": "body.stream",
                      "system": "body.messages"}  # fmt: skip

    shape = re.compile(
        r"Safety: (Safe|Unsafe|Controversial)\nCategories: [^\n]+(\nRefusal: (Yes|No))?"
    )
    for cid, (prompt, answer) in pairs.items():
        sha = content_sha256(prompt) if answer is None else pair_sha256(prompt, answer)
        verdict = stored(session_factory, sha)
        if verdict.severity is None:  # an answer that did not parse is an error, never "Safe"
            error = failed[cid]["response"]["body"]["error"]
            assert (failed[cid]["response"]["status_code"], error["code"]) == (
                500, "unparsed_verdict",
            )  # fmt: skip
            continue
        body = answered[cid]["response"]["body"]
        assert body["object"] == "chat.completion" and body["model"] == MODEL
        content = body["choices"][0]["message"]["content"]
        assert shape.fullmatch(content), content
        assert content.startswith(f"Safety: {verdict.severity.value}\n")
        categories = ", ".join(verdict.categories) or "None"
        assert content.split("\n")[1] == f"Categories: {categories}"
        if answer is None:
            assert "Refusal" not in content

    # Kept on request: the input file outlives the batch, byte for byte.
    assert client.files.content(uploaded.id).content == ("\n".join(lines) + "\n").encode()
    client.files.delete(uploaded.id)


def test_bad_requests_raise_the_openai_clients_errors(client, base_url):
    uploaded = client.files.create(
        file=("x.jsonl", request("a", "/v1/moderations", {"input": "hi"}).encode()),
        purpose="batch",
    )
    with pytest.raises(openai.BadRequestError) as refused:
        client.files.create(file=("x.jsonl", b"{}"), purpose="fine-tune")
    assert refused.value.param == "purpose"
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
        )
    assert refused.value.param == "endpoint" and "/v1/moderations" in refused.value.message
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_" + "0" * 32)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="wrong", max_retries=0).batches.list()

    for _ in range(2):
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/moderations", completion_window="24h",
            extra_body={"keep_input_file": True},
        )  # fmt: skip
    listed = client.batches.list(limit=1)
    assert len(listed.data) == 1 and listed.has_more
    seen = [batch.id for batch in client.batches.list(limit=1)]  # the client pages itself
    assert len(seen) == len(set(seen)) >= 2
