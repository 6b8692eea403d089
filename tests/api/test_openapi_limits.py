"""The OpenAPI schema states the limits the API enforces, and the two agree.

Bodies are generated from ``/openapi.json`` itself by schemathesis, in its positive
mode (bodies the schema accepts) and its negative mode (bodies it refuses: texts too
long, blank or holding NUL, too many items, items of the wrong shape, bad URLs...), and
also from a copy of the schema with its limits removed (bodies on both sides of them).
For each body the schema's verdict (jsonschema) must be the API's: a body the schema
accepts is taken (202, or for a moderation that no worker answers here, 504), and one
it refuses is a 422. Small limits make both sides common.

Where a callback or alert URL may lead is not the schema's to say but the outbound
guard's (tests/api/test_callback_guard.py): here every host name resolves to a public
address and GUARDQ_CALLBACK_ALLOW admits every address literal, so that what is tested is
the URL's shape alone.
"""

from __future__ import annotations

import copy
import json

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError
from schemathesis import GenerationMode

from api.app import create_app
from api.review_schemas import ReviewResolve
from api.validation import MAX_METADATA_CHARS
from guardq.settings import Settings

pytestmark = pytest.mark.integration

MAX_TEXT_CHARS = 8
MAX_ITEMS = 3
PUBLIC = "93.184.215.14"  # example.com: a global address, which the guard lets through
LIMITS = {"maxLength", "minLength", "pattern", "maxItems", "minItems", "allOf", "const"}
AGREEMENT = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def limited(postgres_url, make_redis_database):
    return Settings(
        database_url=postgres_url,
        broker_url=make_redis_database(),
        max_text_chars=MAX_TEXT_CHARS,
        max_items_per_request=MAX_ITEMS,
        moderation_timeout_s=0.05,
        # Every literal the URL pattern lets through, private and loopback ones included.
        callback_allow=("0.0.0.0/0", "::/0"),
        signing_secret="a-long-enough-secret",  # so that alert_url is taken
        author_secret="an-author-secret-for-tests",  # so that an item's author is taken
    )


def resolve_publicly(_host: str, _port: int) -> list[str]:
    return [PUBLIC]


@pytest.fixture(scope="module")
def api(limited, postgres_engine):
    from guardq.store.db import session_factory

    app = create_app(
        limited, session_factory=session_factory(postgres_engine), resolver=resolve_publicly
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def openapi(api):
    return api.get("/openapi.json").json()


@pytest.fixture
def headers(producer):
    return producer


def body_schema(openapi: dict, name: str, *, relaxed: bool = False) -> dict:
    schemas = copy.deepcopy(openapi["components"]["schemas"])
    if relaxed:
        schemas = _without_limits(schemas)
    return {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}}


def _without_limits(node):
    if isinstance(node, dict):
        return {k: _without_limits(v) for k, v in node.items() if k not in LIMITS}
    if isinstance(node, list):
        return [_without_limits(v) for v in node]
    return node


# Values at and across each limit, each put into a valid body: checked one by one,
# beside the generated bodies, so that no limit is left to chance.
EDGE_TEXTS = [
    "a",
    "a" * MAX_TEXT_CHARS,
    "a" * (MAX_TEXT_CHARS + 1),
    "",
    " ",
    " \t\n",
    "\u3000",
    "\u2028",
    "\x1c\x1d",
    "\ufeff",
    "\x85",
    "a\x00",
    "\x00",
    " a ",
    "a\n",
]
EDGE_URLS = [
    "http://a",
    "https://hooks.example.com:8443/x?y=1#z",
    "http://10.0.0.1/hook",
    "http://",
    "http://@h",
    "http://u:p@h/x",
    "http://[::1]/x",
    "http://[fd00::5]:8080/hook",
    "https://[2001:DB8::1]/x",
    "http://[::ffff:10.0.0.1]/x",
    "http://[1:2:3:4:5:6:7:8]",
    "http://[1:2:3:4:5:6:7:8:9]",
    "http://[:::]/x",
    "http://[::1%25eth0]/x",
    "http://[v1.a]/x",
    "http://[10.0.0.1]/x",
    "http://[::1",
    "http://::1/x",
    "http://a.",
    "http://./x",
    "http://a..b",
    "http://a:65535",
    "http://a:65536",
    "http://a:/x",
    "ftp://a",
    "HTTP://a",
    "http://a/\n",
    "http://a\n",
    "http://a b",
    "http://a:123456",
    "http://a:80",
    "http://a" + "/" * 2041,
    "http://a" + "/" * 2040,
]
EDGE_MODELS = ["omni-moderation-latest", "text-moderation-007", "demo", "gpt-4", "", "demo\n", None]


def _edge_jobs() -> list[dict]:
    item = {"text": "hello"}
    pair = {"prompt": "hi", "response": "hello"}
    bodies = [{"items": [item] * count} for count in range(MAX_ITEMS + 2)]
    bodies += [{"items": [{"text": text}]} for text in EDGE_TEXTS]
    bodies += [{"mode": "response", "items": [{**pair, "response": text}]} for text in EDGE_TEXTS]
    bodies += [{"items": [item], "callback_url": url} for url in EDGE_URLS]
    bodies += [{"items": [item], "alert_url": url} for url in EDGE_URLS]
    bodies += [{"items": [{**item, "ref": ref}]} for ref in ("r" * 256, "r" * 257, "a\x00", "")]
    metadata = ({"\x00": None}, {"a": {"b\x00": 1}}, ["a", ["\x00"]], {"a": [1, "b", None]}, "")
    bodies += [{"items": [{**item, "metadata": value}]} for value in metadata]
    # A well-formed name that no list has is the store's refusal (unknown_list); a
    # malformed one is the schema's.
    names = ("a" * 64, "a" * 65, "a\x00", "\x00", "", "-a", "a b", "a.b_c-1", "a\n")
    bodies += [{"items": [item], "lists": [name]} for name in names]
    bodies += [
        {"mode": "response", "items": [item]},
        {"mode": "prompt", "items": [pair]},
        {"mode": "response", "items": [{"prompt": "hi"}]},
        {"mode": "response", "items": [{**pair, "text": "x"}]},
        {"items": [{"text": None}]},
        {"items": [{"text": "a", "prompt": None, "response": None}]},
        {"priority": "bulk", "items": [item]},
        {"priority": "soon", "items": [item]},
        {"mode": "chat", "items": [item]},
    ]
    return bodies


def _edge_moderations() -> list[dict]:
    bodies = [{"input": text} for text in EDGE_TEXTS]
    bodies += [{"input": ["hello"] * count} for count in range(MAX_ITEMS + 2)]
    bodies += [{"input": ["hello", text]} for text in EDGE_TEXTS]
    bodies += [{"input": "hello", "model": model} for model in EDGE_MODELS]
    bodies += [{"input": 3}, {"input": None}, {"input": ["a", 3]}, {"input": {"text": "a"}}]
    return bodies


def bodies(openapi: dict, path: str):
    """Bodies of ``POST path``: schemathesis's positive and negative cases, and positive
    cases of the schema without its limits."""
    served = schemathesis.openapi.from_dict(copy.deepcopy(openapi))[path]["POST"]
    relaxed = dict(
        openapi, components={"schemas": _without_limits(openapi["components"]["schemas"])}
    )
    loose = schemathesis.openapi.from_dict(relaxed)[path]["POST"]
    cases = st.one_of(
        served.as_strategy(generation_mode=GenerationMode.POSITIVE).map(body_of),
        served.as_strategy(generation_mode=GenerationMode.NEGATIVE).map(body_of),
        loose.as_strategy(generation_mode=GenerationMode.POSITIVE).map(body_of),
    )
    # Negative cases may also change the media type or drop the body: only JSON bodies
    # are about the schema's limits.
    return cases.filter(_is_json)


def body_of(case):
    return case.body


def _is_json(body) -> bool:
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def test_the_schema_states_the_limits(openapi):
    schemas = openapi["components"]["schemas"]
    items = schemas["JobCreate"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, MAX_ITEMS)
    text = schemas["JobItemIn"]["properties"]["text"]["anyOf"][0]
    assert (text["minLength"], text["maxLength"]) == (1, MAX_TEXT_CHARS)
    assert "pattern" in text
    assert schemas["JobItemIn"]["properties"]["ref"]["anyOf"][0]["maxLength"] == 256
    for field in ("callback_url", "alert_url"):
        url = schemas["JobCreate"]["properties"][field]
        assert "pattern" in url["anyOf"][0]
        assert "outbound guard" in url["description"]
        assert "forbidden_destination" in url["description"]
    assert schemas["Mode"]["enum"] == ["prompt", "response"]
    assert set(schemas["Priority"]["enum"]) == {"realtime", "bulk"}
    moderation = schemas["ModerationRequest"]["properties"]["input"]["anyOf"]
    assert moderation[1]["maxItems"] == MAX_ITEMS
    assert schemas["ReviewResolve"]["properties"]["note"]["anyOf"][0]["maxLength"] == 2000


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("hello", True),
        (" x ", True),
        ("", False),
        (" \t\n", False),
        ("\u3000\u2028\x1c", False),  # whitespace to str.strip(), so to the API too
        ("\ufeff", True),  # not whitespace to str.strip()
        ("a\x00b", False),
        ("a\n", True),
    ],
)
def test_the_text_pattern_is_the_apis_rule(openapi, value, valid):
    schema = body_schema(openapi, "ModerationRequest")
    assert Draft202012Validator(schema).is_valid({"input": value}) is valid


# Refusals for what the store holds, not for the body's shape: the schema describes them
# and cannot state them. A body the schema accepts may get one of these, and only these.
STORE_REFUSALS = {"unknown_list"}


def _refused_by_the_store_alone(response) -> bool:
    if response.status_code != 422:
        return False
    return all(error.get("type") in STORE_REFUSALS for error in response.json()["detail"])


def _agree(schema: dict, body, response, accepted: tuple[int, ...]) -> None:
    valid = Draft202012Validator(schema).is_valid(body)
    if valid and _refused_by_the_store_alone(response):
        return
    expected = accepted if valid else (422,)
    assert response.status_code in expected, (
        f"schema says {'valid' if valid else 'invalid'}, API answered "
        f"{response.status_code}: {response.text[:500]}\nbody: {json.dumps(body)[:500]}"
    )


def test_job_bodies_the_schema_accepts_are_taken_and_the_rest_refused(api, openapi, headers):
    schema = body_schema(openapi, "JobCreate")

    @AGREEMENT
    @given(body=bodies(openapi, "/v1/jobs"))
    def check(body):
        items = body.get("items") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "metadata" in item:
                # The one limit a JSON schema cannot state (it is in the description).
                size = len(json.dumps(item["metadata"], ensure_ascii=False, separators=(",", ":")))
                assume(size <= MAX_METADATA_CHARS)
        response = api.post("/v1/jobs", json=body, headers=headers)
        _agree(schema, body, response, (202,))

    check()


def test_moderation_bodies_the_schema_accepts_are_taken_and_the_rest_refused(api, openapi, headers):
    schema = body_schema(openapi, "ModerationRequest")

    @AGREEMENT
    @given(body=bodies(openapi, "/v1/moderations"))
    def check(body):
        response = api.post("/v1/moderations", json=body, headers=headers)
        # No worker runs here: an accepted request waits for its verdicts, then 504.
        _agree(schema, body, response, (200, 504))

    check()


@pytest.mark.parametrize("body", _edge_jobs(), ids=lambda body: json.dumps(body)[:60])
def test_a_job_at_or_across_a_limit_is_judged_as_the_schema_says(api, openapi, headers, body):
    response = api.post("/v1/jobs", json=body, headers=headers)
    _agree(body_schema(openapi, "JobCreate"), body, response, (202,))


@pytest.mark.parametrize("body", _edge_moderations(), ids=lambda body: json.dumps(body)[:60])
def test_a_moderation_at_or_across_a_limit_is_judged_as_the_schema_says(
    api, openapi, headers, body
):
    response = api.post("/v1/moderations", json=body, headers=headers)
    _agree(body_schema(openapi, "ModerationRequest"), body, response, (200, 504))


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "Safe"},
        {"decision": "Safe", "categories": []},
        {"decision": "Safe", "categories": ["PII"]},
        {"decision": "Unsafe"},
        {"decision": "Unsafe", "categories": []},
        {"decision": "Unsafe", "categories": ["PII"]},
        {"decision": "Controversial", "categories": ["Violent", "PII"], "note": "n" * 2000},
        {"decision": "Controversial", "categories": ["Violent"], "note": "n" * 2001},
        {"decision": "Unsafe", "categories": ["Violence"]},
        {"decision": "Maybe", "categories": []},
    ],
    ids=lambda body: json.dumps(body)[:60],
)
def test_a_review_decision_is_judged_as_the_schema_says(openapi, body):
    # The route needs a claimed escalation; its body rules are the model's alone.
    valid = Draft202012Validator(body_schema(openapi, "ReviewResolve")).is_valid(body)
    try:
        ReviewResolve.model_validate(body)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted is valid
