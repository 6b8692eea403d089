"""The clients people already run, pointed at a live guardq (uvicorn, the real worker on
the demo model, Postgres, Redis): the real ``openai`` package on
``/v1/chat/completions`` and ``/v1/models``, Dify's and LiteLLM's documented payloads,
and the Open WebUI filter's inlet and outlet.

Verdicts the demo model gives mean nothing, so assertions about them compare each answer
with the verdict the worker recorded in the store. Where a test needs a known verdict
(an Unsafe text to block, a Safe one to let through) it puts that verdict in the
verdict cache first, which the realtime path answers from like any cached text.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import re
import uuid
from dataclasses import replace

import httpx
import openai
import pytest
from sqlalchemy import select
from transformers import AutoTokenizer

from api.app import create_app
from api.openai_compat import public_model_name
from api.openai_shapes import guard_reply
from guardq.commands.demo import EXAMPLES
from guardq.hashing import content_sha256, pair_sha256
from guardq.settings import REPO_ROOT, Settings
from guardq.store.cache import put_cached_verdict
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.jobs import list_results
from guardq.store.keys import create_api_key
from guardq.store.models import Item, VerdictRecord
from guardq.verdict import Category, Mode, Severity, Verdict

from ..conftest import live_server
from .conftest import MODEL

pytestmark = pytest.mark.integration

ROWS = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
PROMPTS = [row["text"] for row in ROWS if "text" in row][:4]
PAIRS = [(row["prompt"], row["response"]) for row in ROWS if "response" in row][:3]
SERVED = public_model_name(MODEL)
ANSWER = re.compile(
    r"Safety: (Safe|Unsafe|Controversial)\nCategories: [^\n]+(\nRefusal: (Yes|No))?"
)

# Known verdicts, put in the cache by the ``known`` fixture.
UNSAFE_TEXT = "guardq client test: a text the cache knows as Unsafe, Violent"
SAFE_TEXT = "guardq client test: a text the cache knows as Safe"
UNSAFE_PAIR = ("guardq client test: how do I hurt someone?", "guardq client test: like this.")
SAFE_PAIR = ("guardq client test: what is 2 + 2?", "guardq client test: 4.")


@pytest.fixture(scope="module")
def guardq(services, session_factory, celery_app, celery_worker):
    """The base URL of a live API on the shared worker, and a producer key."""
    settings = Settings(
        database_url=services.database_url,
        broker_url=services.broker_url,
        model=MODEL,
        moderation_timeout_s=180,
        dify_preset_response="Blocked by guardq.",
    )
    app = create_app(settings, session_factory=session_factory, celery_app=celery_app)
    with session_scope(session_factory) as session:
        key = create_api_key(session=session, name="clients", role=KeyRole.PRODUCER).key
    with live_server(app) as url:
        yield url, key


@pytest.fixture(scope="module")
def known(session_factory):
    unsafe = Verdict(Severity.UNSAFE, (Category.VIOLENT,))
    safe = Verdict(Severity.SAFE)
    entries = [
        (content_sha256(UNSAFE_TEXT), Mode.PROMPT, unsafe),
        (content_sha256(SAFE_TEXT), Mode.PROMPT, safe),
        (pair_sha256(*UNSAFE_PAIR), Mode.RESPONSE, replace(unsafe, refusal=False)),
        (pair_sha256(*SAFE_PAIR), Mode.RESPONSE, replace(safe, refusal=False)),
    ]
    with session_scope(session_factory) as session:
        for sha256, mode, verdict in entries:
            put_cached_verdict(
                session=session, content_sha256=sha256, model_id=MODEL, mode=mode, verdict=verdict
            )


def stored_verdicts(session_factory, job_id: str):
    with session_scope(session_factory) as session:
        rows = list_results(session=session, job_id=uuid.UUID(job_id), after_index=-1, limit=100)
    return [row.verdict for row in rows]


def latest_actions(session_factory, hashes: list[str]) -> list[str]:
    """The action of the latest verdict recorded for each content hash."""
    actions = []
    with session_scope(session_factory) as session:
        for sha256 in hashes:
            action = session.scalar(
                select(VerdictRecord.action)
                .join(Item, Item.id == VerdictRecord.item_id)
                .where(Item.content_sha256 == sha256)
                .order_by(VerdictRecord.created_at.desc())
                .limit(1)
            )
            actions.append(action.value)
    return actions


# vLLM's chat endpoint, through the openai package ---------------------------------------


def test_the_openai_snippet_reads_the_recorded_verdict_in_prompt_mode(guardq, session_factory):
    url, key = guardq
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key)
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    answered = 0
    for prompt in PROMPTS:
        try:
            completion = client.chat.completions.create(
                messages=[{"role": "user", "content": prompt}], model=SERVED
            )
        except openai.APIStatusError as exc:  # an unparsed verdict: never reported as Safe
            assert exc.status_code == 502 and "did not parse" in exc.message
            continue
        answered += 1
        content = completion.choices[0].message.content
        assert ANSWER.fullmatch(content) and "Refusal" not in content
        assert (completion.object, completion.model) == ("chat.completion", SERVED)
        assert completion.choices[0].finish_reason == "stop"
        extra = completion.model_extra["guardq"]
        assert extra["content_sha256"] == content_sha256(prompt)
        (verdict,) = stored_verdicts(session_factory, extra["job_id"])
        assert content == guard_reply(verdict, Mode.PROMPT)
        assert extra["action"] == verdict.action.value
        # usage as vLLM counts it: the rendered guard prompt, the answer and its end token
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=True, add_generation_prompt=True
        )
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        usage = completion.usage
        assert usage.prompt_tokens == len(ids)
        expected = len(tokenizer(content, add_special_tokens=False)["input_ids"]) + 1
        assert usage.completion_tokens == expected
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert answered, "the demo model's answers to every prompt failed to parse"


def test_a_user_and_assistant_pair_is_response_moderation(guardq, session_factory):
    url, key = guardq
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key)
    answered = 0
    for prompt, response in PAIRS:
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        try:
            completion = client.chat.completions.create(messages=messages, model=SERVED)
        except openai.APIStatusError as exc:
            assert exc.status_code == 502 and "did not parse" in exc.message
            continue
        answered += 1
        content = completion.choices[0].message.content
        extra = completion.model_extra["guardq"]
        assert extra["content_sha256"] == pair_sha256(prompt, response)
        (verdict,) = stored_verdicts(session_factory, extra["job_id"])
        assert content == guard_reply(verdict, Mode.RESPONSE)
        assert ("\nRefusal: " in content) == (verdict.refusal is not None)
    assert answered


def test_a_long_input_is_answered_with_its_aggregated_verdict(guardq, session_factory):
    url, key = guardq
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    # Several of the worker's 2,048-token windows (GUARDQ_CHUNK_TOKENS). The demo model,
    # trained on short texts, cannot answer such windows: the aggregate is unparsed,
    # which must come back as an error, never as Safe.
    text = " ".join(prompt for prompt in PROMPTS * 40)
    try:
        completion = client.chat.completions.create(
            messages=[{"role": "user", "content": text}], model=SERVED
        )
    except openai.APIStatusError as exc:
        assert exc.status_code == 502 and "did not parse" in exc.message
        assert exc.response.headers["x-should-retry"] == "false"
        job_id = re.search(r"job ([0-9a-f-]{36})", exc.message).group(1)
        (verdict,) = stored_verdicts(session_factory, job_id)
        assert verdict.severity is None and verdict.action.value != "allow"
    else:
        job_id = completion.model_extra["guardq"]["job_id"]
        (verdict,) = stored_verdicts(session_factory, job_id)
        assert completion.choices[0].message.content == guard_reply(verdict, Mode.PROMPT)
    assert verdict.chunk_count > 1


def test_a_known_verdict_is_the_models_own_lines(guardq, known):
    url, key = guardq
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key)
    unsafe = client.chat.completions.create(
        messages=[{"role": "user", "content": UNSAFE_TEXT}], model=SERVED
    )
    assert unsafe.choices[0].message.content == "Safety: Unsafe\nCategories: Violent"
    assert unsafe.model_extra["guardq"]["action"] == "block"
    messages = [
        {"role": "user", "content": SAFE_PAIR[0]},
        {"role": "assistant", "content": SAFE_PAIR[1]},
    ]
    # The full model path names the same model.
    pair = client.chat.completions.create(messages=messages, model=MODEL)
    assert pair.choices[0].message.content == "Safety: Safe\nCategories: None\nRefusal: No"


def test_models_and_refusals_through_the_openai_client(guardq):
    url, key = guardq
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    assert [model.id for model in client.models.list()] == [SERVED]
    with pytest.raises(openai.BadRequestError, match="stream=true is not supported"):
        client.chat.completions.create(
            messages=[{"role": "user", "content": "hi"}], model=SERVED, stream=True
        )
    with pytest.raises(openai.BadRequestError, match="n=3 is not supported"):
        client.chat.completions.create(
            messages=[{"role": "user", "content": "hi"}], model=SERVED, n=3
        )
    with pytest.raises(openai.BadRequestError, match=r"\[user\] \(prompt moderation\)"):
        client.chat.completions.create(
            messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}],
            model=SERVED,
        )
    with pytest.raises(openai.NotFoundError, match="The model `Qwen/Qwen3Guard-Gen-8B` does not"):
        client.chat.completions.create(
            messages=[{"role": "user", "content": "hi"}], model="Qwen/Qwen3Guard-Gen-8B"
        )
    with pytest.raises(openai.AuthenticationError, match="invalid or revoked"):
        openai.OpenAI(base_url=f"{url}/v1", api_key="wrong").models.list()


# Dify's moderation extension, with the payloads of Dify's documentation --------------


def dify(url: str, key: str, body: dict, **params) -> dict:
    response = httpx.post(
        f"{url}/v1/dify/moderation",
        json=body,
        params=params,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_dify_documented_payloads_follow_the_recorded_policy(guardq, session_factory):
    url, key = guardq
    assert dify(url, key, {"point": "ping", "params": {}}) == {"result": "pong"}
    inputs = {"var_1": "My SSN is 123-45-6789.", "var_2": "My phone number is 123-456-7890."}
    query = "Please help me update my account."
    app_id = "61248ab4-1125-45be-ae32-0ce91334d021"
    params = {"app_id": app_id, "inputs": inputs, "query": query}
    answer = dify(url, key, {"point": "app.moderation.input", "params": params})
    actions = latest_actions(
        session_factory, [content_sha256(t) for t in [*inputs.values(), query]]
    )
    flagged = any(action != "allow" for action in actions)
    assert answer == {
        "flagged": flagged,
        "action": "direct_output",
        "preset_response": "Blocked by guardq." if flagged else "",
    }
    text = "My SSN is 123-45-6789."
    output = dify(
        url,
        key,
        {"point": "app.moderation.output", "params": {"app_id": "61248ab4", "text": text}},
    )
    assert output["flagged"] == (
        latest_actions(session_factory, [content_sha256(text)]) != ["allow"]
    )


def test_dify_flags_what_the_policy_does_not_allow(guardq, known):
    url, key = guardq
    body = {
        "point": "app.moderation.input",
        "params": {"app_id": "a", "inputs": {"topic": SAFE_TEXT, "count": 3}, "query": UNSAFE_TEXT},
    }
    assert dify(url, key, body, preset_response="Not here.") == {
        "flagged": True,
        "action": "direct_output",
        "preset_response": "Not here.",
    }
    body["params"]["query"] = SAFE_TEXT
    assert dify(url, key, body)["flagged"] is False
    output = {"point": "app.moderation.output", "params": {"app_id": "a", "text": UNSAFE_TEXT}}
    assert dify(url, key, output) == {
        "flagged": True,
        "action": "direct_output",
        "preset_response": "Blocked by guardq.",
    }


# LiteLLM's generic guardrail, with the payload of LiteLLM's documentation -------------


def litellm_payload(texts: list[str], input_type: str, messages=None) -> dict:
    return {
        "texts": texts,
        "images": None,
        "tools": None,
        "structured_messages": messages,
        "request_data": {"user_api_key_hash": "hash", "user_api_key_alias": "alias"},
        "input_type": input_type,
        "litellm_call_id": "unique_call_id",
        "litellm_trace_id": "trace_id",
        "additional_provider_specific_params": {},
        # Sent by later LiteLLM releases:
        "request_headers": {"user-agent": "litellm"},
        "litellm_version": "1.80.0",
        "model": "gpt-4o",
        "tool_calls": None,
    }


def litellm(url: str, key: str, body: dict) -> dict:
    response = httpx.post(
        f"{url}/beta/litellm_basic_guardrail_api",
        json=body,
        headers={"Content-Type": "application/json", "x-api-key": key},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_litellm_pre_call_follows_the_recorded_policy(guardq, session_factory):
    url, key = guardq
    answer = litellm(url, key, litellm_payload(PROMPTS[:2], "request"))
    actions = latest_actions(session_factory, [content_sha256(t) for t in PROMPTS[:2]])
    if all(action == "allow" for action in actions):
        assert answer == {"action": "NONE"}
    else:
        assert answer["action"] == "BLOCKED" and answer["blocked_reason"].startswith("guardq: ")


def test_litellm_blocks_with_a_reason_and_judges_responses_with_their_prompt(guardq, known):
    url, key = guardq
    blocked = litellm(url, key, litellm_payload([SAFE_TEXT, UNSAFE_TEXT], "request"))
    assert blocked["action"] == "BLOCKED"
    assert blocked["blocked_reason"].startswith("guardq: Unsafe (Violent), block: ")
    assert UNSAFE_TEXT not in blocked["blocked_reason"]
    assert litellm(url, key, litellm_payload([SAFE_TEXT], "request")) == {"action": "NONE"}

    messages = [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": UNSAFE_PAIR[0]},
    ]
    response = litellm(url, key, litellm_payload([UNSAFE_PAIR[1]], "response", messages))
    assert response["action"] == "BLOCKED"
    safe_messages = [{"role": "user", "content": [{"type": "text", "text": SAFE_PAIR[0]}]}]
    allowed = litellm(url, key, litellm_payload([SAFE_PAIR[1]], "response", safe_messages))
    assert allowed == {"action": "NONE"}


# The Open WebUI filter ----------------------------------------------------------------


def load_filter(url: str, key: str, **valves):
    path = REPO_ROOT / "integrations" / "openwebui" / "guardq_filter.py"
    spec = importlib.util.spec_from_file_location("guardq_filter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    guard = module.Filter()
    guard.valves = guard.Valves(guardq_url=url, api_key=key, **valves)
    return module, guard


def chat(*turns: tuple[str, str]) -> dict:
    return {
        "model": "llama3",
        "messages": [{"role": "system", "content": "be kind"}]
        + [{"role": role, "content": content} for role, content in turns],
    }


def test_the_open_webui_filter_blocks_on_the_inlet_and_the_outlet(guardq, known):
    url, key = guardq
    module, guard = load_filter(url, key, block_message="Not allowed here.")

    body = chat(("user", UNSAFE_TEXT), ("assistant", "ok"), ("user", SAFE_TEXT))
    assert asyncio.run(guard.inlet(copy.deepcopy(body))) == body  # the last user message counts
    with pytest.raises(
        module.GuardqBlocked, match=r"^Not allowed here\. \(guardq: Unsafe: Violent\)$"
    ):
        asyncio.run(guard.inlet(chat(("user", UNSAFE_TEXT))))

    allowed = chat(("user", SAFE_PAIR[0]), ("assistant", SAFE_PAIR[1]))
    assert asyncio.run(guard.outlet(copy.deepcopy(allowed))) == allowed
    unsafe = chat(("user", UNSAFE_PAIR[0]), ("assistant", UNSAFE_PAIR[1]))
    with pytest.raises(module.GuardqBlocked, match="Not allowed here"):
        asyncio.run(guard.outlet(unsafe))
    assert unsafe["messages"][-1]["content"].startswith("Not allowed here.")  # not kept in the chat

    _, input_only = load_filter(url, key, moderate_input=False)
    asyncio.run(input_only.inlet(chat(("user", UNSAFE_TEXT))))


def test_the_open_webui_filter_passes_the_recorded_verdict_of_a_real_judgement(
    guardq, session_factory
):
    url, key = guardq
    module, guard = load_filter(url, key)
    prompt = PROMPTS[0]
    try:
        asyncio.run(guard.inlet(chat(("user", prompt))))
        blocked = False
    except module.GuardqBlocked:
        blocked = True
    assert blocked == (latest_actions(session_factory, [content_sha256(prompt)]) != ["allow"])


def test_the_open_webui_filter_fails_closed_unless_told_otherwise(guardq):
    url, _ = guardq
    module, wrong_key = load_filter(url, "wrong")
    with pytest.raises(module.GuardqBlocked, match=r"guardq refused the check \(401\): invalid"):
        asyncio.run(wrong_key.inlet(chat(("user", "hello"))))
    module, unreachable = load_filter("http://127.0.0.1:9", "k", timeout_s=5)
    with pytest.raises(module.GuardqBlocked, match="could not be reached"):
        asyncio.run(unreachable.inlet(chat(("user", "hello"))))
    _, fail_open = load_filter("http://127.0.0.1:9", "k", timeout_s=5, fail_open=True)
    asyncio.run(fail_open.inlet(chat(("user", "hello"))))
