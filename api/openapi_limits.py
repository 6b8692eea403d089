"""The OpenAPI schema states the limits ``api.validation`` enforces.

Some limits come from the settings (items per request, characters per text) and some
are rules pydantic's types cannot say (a text must hold something other than
whitespace and no NUL character; an item's shape follows the job's mode; a callback or
alert URL is http(s) with a host name, an IPv4 or a bracketed IPv6 address). They are
written into the generated schema here, so that a client generated from
``/openapi.json``, or a fuzzer, knows what the API accepts.
``tests/api/test_openapi_limits.py`` generates bodies from the schema and checks that the
API's verdict (422 or not) agrees with the schema's. What depends on the world rather
than on the body (where a URL's host leads, which term lists exist) is only described.

Patterns are written for both Python's ``re`` and ECMAScript: only character classes,
groups, alternatives, counted repeats, ``^``, and ``(?![\\s\\S])`` for the end (``$``
in Python also matches before a final newline).
"""

from __future__ import annotations

import copy
import re
import sys
from functools import cache

from fastapi import FastAPI

from api.openai_compat import public_model_name
from api.review_schemas import ReviewResolve
from api.schemas import CALLBACK_URL_PATTERN, JobCreate, JobItemIn, ModerationRequest
from api.validation import MAX_METADATA_CHARS
from guardq.settings import Settings
from guardq.store.models import LIST_NAME_LENGTH
from guardq.verdict import Severity

END = r"(?![\s\S])"
NO_NUL = rf"^[^\u0000]*{END}"


@cache
def _whitespace_class() -> str:
    """The characters ``str.strip()`` removes (``str.isspace``), as a class body of
    ``\\uXXXX`` ranges that Python and ECMAScript read alike."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if chr(code).isspace():
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


def text_pattern() -> str:
    """A text: no NUL character, and at least one character that is not whitespace."""
    return rf"^[^\u0000]*[^\u0000{_whitespace_class()}][^\u0000]*{END}"


def _text(settings: Settings, description: str) -> dict:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.max_text_chars,
        "pattern": text_pattern(),
        "description": f"{description} At most {settings.max_text_chars} characters "
        "(GUARDQ_MAX_TEXT_CHARS); not empty or whitespace only; no NUL character.",
    }


# Where a URL may lead is no matter of its shape: the outbound guard checks it at submit
# (and again at send), so the schema can only say so.
_GUARD = (
    "The destination is also checked against the outbound guard: a host that does not "
    "resolve, or that is or resolves to a loopback, link-local, private, unique-local or "
    "other non-public address, is refused with a 422 of type forbidden_destination "
    "unless GUARDQ_CALLBACK_ALLOW allows it."
)


def _url_description(field: str) -> str:
    shape = (
        "An absolute http:// or https:// URL: a host name, an IPv4 address or a bracketed "
        "IPv6 address ([2001:db8::1]), an optional port, no user info, no whitespace, NUL "
        "character or unpaired surrogate."
    )
    if field == "callback_url":
        return f"Where the job's summary is POSTed when it finishes. {shape} {_GUARD}"
    return (
        f"Where signed events for this job's blocked items go (else GUARDQ_ALERT_URL). "
        f"{shape} {_GUARD} Refused (422 alerts_unsigned) where GUARDQ_SIGNING_SECRET is unset."
    )


STORABLE_JSON = "StorableJson"


def _storable_json() -> dict:
    """Any JSON value the audit store can hold: no NUL in a key or a string, at any depth
    (recursive, as the API's walk is)."""
    itself = {"$ref": f"#/components/schemas/{STORABLE_JSON}"}
    return {
        "title": STORABLE_JSON,
        "anyOf": [
            {"type": ["null", "boolean", "number"]},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": itself},
            {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": itself,
            },
        ],
    }


def _literal(value: str) -> str:
    return re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", value)


def _state_limits(schemas: dict, settings: Settings) -> None:
    text = _text(settings, "The content to moderate.")
    item = schemas[JobItemIn.__name__]["properties"]
    for field in ("text", "prompt", "response"):
        item[field] = {"anyOf": [copy.deepcopy(text), {"type": "null"}], "title": field.title()}
    item["ref"]["anyOf"][0]["pattern"] = NO_NUL
    item["author"]["description"] = (
        "The producer's user id, kept only as an HMAC (for strikes and holds). Refused "
        "(422 authors_disabled) where GUARDQ_AUTHOR_SECRET is unset."
    )
    schemas[STORABLE_JSON] = _storable_json()
    item["metadata"] = {
        "$ref": f"#/components/schemas/{STORABLE_JSON}",
        "description": f"Any JSON value without a NUL character in a key or a string, at "
        f"most {MAX_METADATA_CHARS} characters once serialised; returned with the results. "
        "Ids and tags, never content.",
    }

    job = schemas[JobCreate.__name__]
    job["properties"]["items"]["maxItems"] = settings.max_items_per_request
    job["properties"]["items"]["description"] = (
        f"1 to {settings.max_items_per_request} items (GUARDQ_MAX_ITEMS_PER_REQUEST): each "
        "with text in mode 'prompt', with prompt and response in mode 'response'."
    )
    for field in ("callback_url", "alert_url"):
        job["properties"][field]["anyOf"][0]["pattern"] = CALLBACK_URL_PATTERN
        job["properties"][field]["description"] = _url_description(field)
    job["properties"]["lists"]["anyOf"][0]["items"].update(
        minLength=1,
        maxLength=LIST_NAME_LENGTH,
        pattern=rf"^[A-Za-z0-9][A-Za-z0-9_.-]*{END}",
    )
    job["properties"]["lists"]["description"] = (
        "Names of term lists of this deployment (/v1/lists) to match this job's items "
        "against, besides the deployment's own; a name that no list has is refused "
        "(422 unknown_list)."
    )
    present = {"type": "string"}
    absent = {"type": "null"}
    prompt_item = {
        "required": ["text"],
        "properties": {"text": present, "prompt": absent, "response": absent},
    }
    response_item = {
        "required": ["prompt", "response"],
        "properties": {"text": absent, "prompt": present, "response": present},
    }
    job["allOf"] = [
        {
            "if": {"required": ["mode"], "properties": {"mode": {"const": "response"}}},
            "then": {"properties": {"items": {"items": response_item}}},
            "else": {"properties": {"items": {"items": prompt_item}}},
        }
    ]

    moderation = schemas[ModerationRequest.__name__]["properties"]
    one = _text(settings, "One text to moderate.")
    moderation["input"] = {
        "anyOf": [
            one,
            {
                "type": "array",
                "items": copy.deepcopy(one),
                "minItems": 1,
                "maxItems": settings.max_items_per_request,
            },
        ],
        "title": "Input",
        "description": "A string, or an array of 1 to "
        f"{settings.max_items_per_request} strings (GUARDQ_MAX_ITEMS_PER_REQUEST).",
    }
    names = sorted({settings.model, public_model_name(settings.model)})
    moderation["model"]["anyOf"][0]["pattern"] = (
        r"^(omni-moderation|text-moderation|(" + "|".join(map(_literal, names)) + rf"){END})"
    )
    moderation["model"]["description"] = (
        "The model this deployment serves, an OpenAI moderation model name "
        "(omni-moderation-*, text-moderation-*), or null."
    )

    resolve = schemas[ReviewResolve.__name__]
    resolve["allOf"] = [
        {
            "if": {"properties": {"decision": {"const": Severity.SAFE.value}}},
            "then": {"properties": {"categories": {"maxItems": 0}}},
            "else": {"required": ["categories"], "properties": {"categories": {"minItems": 1}}},
        }
    ]


def install_openapi_limits(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` (``/openapi.json``, ``/docs``) state the limits."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            _state_limits(schema["components"]["schemas"], settings)
        return app.openapi_schema

    app.openapi = openapi
