"""Bad input to the endpoints that speak other clients' languages (vLLM's chat
completions, Dify's moderation extension, LiteLLM's guardrail): each is refused before
any job exists, in that client's own error format, naming the field and what guardq
accepts. No worker runs here (tests/integration drives the verdicts)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.client_errors import ClientErrorRoute
from api.routes import batches, chat, dify, files, litellm
from guardq.output import parse_output
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.models import Item, Job, VerdictRecord
from guardq.store.verdicts import record_verdict
from guardq.verdict import Mode

from .conftest import MAX_ITEMS, MAX_TEXT_CHARS

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
DIFY = "/v1/dify/moderation"
LITELLM = "/beta/litellm_basic_guardrail_api"


def job_count(factory) -> int:
    with session_scope(factory) as session:
        return session.scalar(select(func.count()).select_from(Job))


def openai_error(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == (kind, status)
    return error


def dify_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["message", "code", "status"]
    assert (body["code"], body["status"]) == (code, status)
    return body


@pytest.mark.parametrize(
    ("messages", "field", "words"),
    [
        ("hello", "messages", "expected an array, got string"),
        ([], "messages", "got [nothing]"),
        ([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "messages",
         "got [system, user]"),
        ([{"role": "assistant", "content": "a"}], "messages", "got [assistant]"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "messages",
         "got [user, user]"),
        ([{"role": "user", "content": 7}], "messages[0].content",
         "expected a string or an array of text parts, got number"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
         "messages[0].content[0]", "guardq moderates text"),
        (["hi"], "messages[0]", "expected an object, got string"),
        ([{"role": "user", "content": "   "}], "messages[0].content", "empty or whitespace"),
        ([{"role": "user", "content": "x" * (MAX_TEXT_CHARS + 1)}], "messages[0].content",
         "GUARDQ_MAX_TEXT_CHARS"),
        ([{"role": "user", "content": "a\x00b"}], "messages[0].content", "NUL character"),
    ],
)  # fmt: skip
def test_a_conversation_guardq_cannot_judge_is_a_400_naming_what_it_accepts(
    client, producer, factory, messages, field, words
):
    response = client.post(CHAT, json={"model": "demo", "messages": messages}, headers=producer)
    error = openai_error(response, 400, "BadRequestError")
    assert error["param"] == field
    assert words in error["message"]
    if field == "messages" and "got [" in words:
        assert "[user] (prompt moderation) or [user, assistant]" in error["message"]
    assert "x" * 50 not in error["message"]
    assert job_count(factory) == 0


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"stream": True}, "stream", "stream=true is not supported"),
        ({"n": 2}, "n", "n=2 is not supported"),
        ({"n": "1"}, "n", "valid integer"),
        ({"stream": "yes"}, "stream", "valid boolean"),
        ({"model": 5}, "model", "valid string"),
    ],
)
def test_stream_n_and_mistyped_fields_are_400s(client, producer, extra, field, words):
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], **extra}
    error = openai_error(client.post(CHAT, json=body, headers=producer), 400, "BadRequestError")
    assert error["param"] == field
    assert words in error["message"]


def test_an_unknown_model_is_vllms_404(client, producer):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    error = openai_error(client.post(CHAT, json=body, headers=producer), 404, "NotFoundError")
    assert error["message"].startswith("The model `gpt-4o` does not exist.")
    assert "`demo`" in error["message"]


def test_a_body_that_is_not_json_or_lacks_messages_is_a_400(client, producer):
    broken = client.post(
        CHAT, content=b'{"messages": [', headers={**producer, "Content-Type": "application/json"}
    )
    assert "not valid JSON" in openai_error(broken, 400, "BadRequestError")["message"]
    missing = client.post(CHAT, json={"model": "demo"}, headers=producer)
    error = openai_error(missing, 400, "BadRequestError")
    assert (error["param"], error["message"]) == ("messages", "messages: Field required")


def test_keys_and_roles_are_checked_and_answered_in_openai_format(client, make_key):
    body = {"messages": [{"role": "user", "content": "hi"}]}
    error = openai_error(client.post(CHAT, json=body), 401, "UnauthorizedError")
    assert "Authorization: Bearer" in error["message"]
    bad = client.post(CHAT, json=body, headers={"Authorization": "Bearer nope"})
    assert "invalid or revoked" in openai_error(bad, 401, "UnauthorizedError")["message"]
    reviewer = client.post(CHAT, json=body, headers=make_key(KeyRole.REVIEWER))
    assert "producer or admin" in openai_error(reviewer, 403, "ForbiddenError")["message"]
    assert client.get("/v1/models").status_code == 401


def test_a_verdict_not_ready_in_time_is_a_504_with_the_job_to_poll(client, producer, factory):
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
    error = openai_error(client.post(CHAT, json=body, headers=producer), 504, "GatewayTimeoutError")
    assert "GUARDQ_MODERATION_TIMEOUT_S" in error["message"]
    assert "/v1/jobs/" in error["message"]
    assert job_count(factory) == 1


def test_models_lists_the_served_model(client, producer):
    body = client.get("/v1/models", headers=producer).json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"]) for m in body["data"]] == [("demo", "model")]


def test_every_client_route_renders_its_errors():
    for module in (chat, dify, litellm, files, batches):
        assert all(isinstance(route, ClientErrorRoute) for route in module.router.routes)


# Dify -------------------------------------------------------------------------------


def test_dify_ping_is_pong(client, producer, factory):
    response = client.post(DIFY, json={"point": "ping", "params": {}}, headers=producer)
    assert (response.status_code, response.json()) == (200, {"result": "pong"})
    assert job_count(factory) == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"point": "app.external_data_tool.query", "params": {}}, "point",
         "unknown point 'app.external_data_tool.query': guardq answers ping, app.moderation.input, "
         "app.moderation.output"),
        ({"params": {}}, "point", "Field required"),
        ({"point": 3}, "point", "valid string"),
        ({"point": "app.moderation.input", "params": []}, "params", "valid dictionary"),
        ({"point": "app.moderation.input", "params": {"inputs": ["a"]}}, "params.inputs",
         "expected an object, got array"),
        ({"point": "app.moderation.input", "params": {"query": 1}}, "params.query",
         "expected a string, got number"),
        ({"point": "app.moderation.input",
          "params": {"inputs": {"v": "x" * (MAX_TEXT_CHARS + 1)}}}, "params.inputs.v",
         "GUARDQ_MAX_TEXT_CHARS"),
        ({"point": "app.moderation.input",
          "params": {"inputs": {f"v{i}": "t" for i in range(MAX_ITEMS + 1)}}}, "params",
         "GUARDQ_MAX_ITEMS_PER_REQUEST"),
        ({"point": "app.moderation.output", "params": {}}, "params.text",
         "expected a string, got nothing"),
        ({"point": "app.moderation.output", "params": {"text": ["a"]}}, "params.text",
         "expected a string, got array"),
    ],
)  # fmt: skip
def test_a_dify_request_guardq_cannot_judge_is_a_400_in_difys_shape(
    client, producer, factory, body, field, words
):
    error = dify_error(client.post(DIFY, json=body, headers=producer), 400, "invalid_param")
    assert words in error["message"]
    assert error["message"].startswith(field) or field == "point"
    assert job_count(factory) == 0


def test_dify_inputs_with_no_text_are_not_flagged_and_make_no_job(client, producer, factory):
    body = {
        "point": "app.moderation.input",
        "params": {
            "app_id": "a",
            "inputs": {"n": 3, "empty": "", "file": {"url": "u"}},
            "query": "",
        },
    }
    response = client.post(DIFY, json=body, headers=producer)
    assert response.json() == {"flagged": False, "action": "direct_output", "preset_response": ""}
    assert job_count(factory) == 0


def test_dify_without_a_key_is_a_401_in_difys_shape(client):
    error = dify_error(client.post(DIFY, json={"point": "ping"}), 401, "unauthorized")
    assert "Authorization: Bearer" in error["message"]


# LiteLLM ----------------------------------------------------------------------------


def test_litellm_sends_its_key_as_x_api_key(client, producer, factory):
    key = producer["Authorization"].removeprefix("Bearer ")
    body = {"texts": ["", "  "], "input_type": "request", "request_data": {}, "model": "gpt-4o"}
    response = client.post(LITELLM, json=body, headers={"x-api-key": key})
    assert (response.status_code, response.json()) == (200, {"action": "NONE"})
    assert job_count(factory) == 0
    error = openai_error(client.post(LITELLM, json=body), 401, "UnauthorizedError")
    assert "missing API key: send the header 'x-api-key: <key>'" in error["message"]
    wrong = client.post(LITELLM, json=body, headers={"x-api-key": "nope"})
    openai_error(wrong, 401, "UnauthorizedError")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"texts": ["a"]}, "input_type", "Field required"),
        ({"texts": ["a"], "input_type": "tool"}, "input_type", "'request' or 'response'"),
        ({"texts": "a", "input_type": "request"}, "texts", "valid list"),
        ({"texts": ["a", 5], "input_type": "request"}, "texts[1]", "valid string"),
        ({"texts": ["x" * (MAX_TEXT_CHARS + 1)], "input_type": "request"}, "texts[0]",
         "GUARDQ_MAX_TEXT_CHARS"),
        ({"texts": ["t"] * (MAX_ITEMS + 1), "input_type": "request"}, "texts",
         "GUARDQ_MAX_ITEMS_PER_REQUEST"),
        ({"texts": ["a"], "input_type": "response", "structured_messages": "u"},
         "structured_messages", "valid list"),
    ],
)  # fmt: skip
def test_a_litellm_request_guardq_cannot_judge_is_a_400(
    client, producer, factory, body, field, words
):
    error = openai_error(client.post(LITELLM, json=body, headers=producer), 400, "BadRequestError")
    assert error["param"] == field
    assert words in error["message"]
    assert job_count(factory) == 0


# An answer the model gave that did not parse --------------------------------------


@pytest.fixture
def patient_client(settings, factory, redis):
    """The API waiting long enough for the test to record the verdict itself."""
    app = create_app(
        settings.model_copy(update={"moderation_timeout_s": 60}), session_factory=factory
    )
    with TestClient(app) as client:
        yield client


def answered_with(client, factory, settings, path: str, body: dict, headers, model_output: str):
    """The response to ``body`` once the item it queued is recorded as the model answered
    ``model_output``, the way a worker records it (parsed by guardq's one parser, decided
    by the policy)."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.post, path, json=body, headers=headers)
        while True:
            with session_scope(factory) as session:
                item = session.scalars(
                    select(Item)
                    .outerjoin(VerdictRecord, VerdictRecord.item_id == Item.id)
                    .where(VerdictRecord.id.is_(None))
                ).first()
            if item is not None or pending.done():
                break
            time.sleep(0.05)
        assert item is not None, pending.result().text
        verdict = parse_output(model_output, Mode.PROMPT)
        with session_scope(factory) as session:
            record_verdict(
                session=session,
                item_id=item.id,
                verdict=verdict,
                decision=settings.policy.decide(verdict),
                model_id=settings.model,
            )
        return pending.result()


UNPARSED = "Safety: Probably fine\nCategories: None"


def test_an_unparsed_verdict_is_an_error_never_a_made_up_safe(
    patient_client, factory, settings, producer
):
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
    response = answered_with(patient_client, factory, settings, CHAT, body, producer, UNPARSED)
    error = openai_error(response, 502, "BadGatewayError")
    assert "did not parse" in error["message"] and "policy: review" in error["message"]
    assert response.headers["x-should-retry"] == "false"
    assert "choices" not in response.json() and "Safety: Safe" not in response.text


def test_dify_and_litellm_flag_an_unparsed_verdict(patient_client, factory, settings, producer):
    body = {"point": "app.moderation.output", "params": {"app_id": "a", "text": "hi"}}
    dify_answer = answered_with(patient_client, factory, settings, DIFY, body, producer, UNPARSED)
    assert dify_answer.json()["flagged"] is True
    body = {"texts": ["hi"], "input_type": "request"}
    litellm_answer = answered_with(
        patient_client, factory, settings, LITELLM, body, producer, UNPARSED
    )
    assert litellm_answer.json()["action"] == "BLOCKED"
    assert litellm_answer.json()["blocked_reason"].startswith("guardq: unparsed, review: ")


def test_a_store_that_is_down_is_a_503_in_each_clients_format(settings):
    down = settings.model_copy(
        update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/guardq"}
    )
    headers = {"Authorization": "Bearer gq_anything"}
    with TestClient(create_app(down)) as client:
        chat_answer = client.post(CHAT, json={"messages": []}, headers=headers)
        error = openai_error(chat_answer, 503, "ServiceUnavailableError")
        assert error["message"] == "the audit store (PostgreSQL) is unreachable"
        assert chat_answer.headers["Retry-After"] == "5"
        dify_answer = client.post(DIFY, json={"point": "ping"}, headers=headers)
        dify_error(dify_answer, 503, "service_unavailable")
        litellm_answer = client.post(LITELLM, json={"input_type": "request"}, headers=headers)
        openai_error(litellm_answer, 503, "ServiceUnavailableError")
