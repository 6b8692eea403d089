"""Content rules of a request, checked after parsing: sizes, counts and item shapes.

Each rule's message names the field (``items[3].text``), the problem and the limit, and
never quotes the content. All problems of a request are reported together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from api.errors import FieldError, InputError
from api.schemas import JobCreate, JobItemIn
from guardq.inputs import unstorable
from guardq.outbound import ForbiddenDestination, Resolver, check_url
from guardq.settings import Settings
from guardq.store.jobs import NewItem
from guardq.verdict import Mode

# Metadata travels with every result row; ids and tags fit easily, content should not.
MAX_METADATA_CHARS = 4096

Loc = tuple[str | int, ...]


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages ("expected a string, got number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _check_storable(loc: Loc, value: str, errors: list[FieldError]) -> bool:
    problem = unstorable(value)
    if problem:
        errors.append(FieldError(loc, *problem))
    return problem is not None


def _check_metadata(loc: Loc, value: object, errors: list[FieldError]) -> None:
    """Every key and string storable, every number finite (JSON has no NaN or Infinity,
    which Python's parser accepts and Postgres's refuses); walked without recursion."""
    stack: list[tuple[Loc, object]] = [(loc, value)]
    while stack:
        here, node = stack.pop()
        if isinstance(node, str):
            _check_storable(here, node, errors)
        elif isinstance(node, float) and not math.isfinite(node):
            errors.append(
                FieldError(here, "is not a finite number (NaN or Infinity)", "non_finite_number")
            )
        elif isinstance(node, list):
            stack.extend(((*here, index), child) for index, child in enumerate(node))
        elif isinstance(node, dict):
            for key, child in node.items():
                problem = unstorable(key)
                if problem:
                    # The key cannot name the field: it is the problem.
                    errors.append(FieldError(here, f"a key {problem[0]}", problem[1]))
                else:
                    stack.append(((*here, key), child))


def check_text(loc: Loc, value: str, settings: Settings, errors: list[FieldError]) -> None:
    """Append to ``errors`` what is wrong with a text to moderate (unstorable, blank, too long)."""
    if _check_storable(loc, value, errors):
        return
    if not value.strip():
        errors.append(FieldError(loc, "is empty or whitespace only", "blank_text"))
    elif len(value) > settings.max_text_chars:
        errors.append(
            FieldError(
                loc,
                f"{len(value)} characters, over the limit of {settings.max_text_chars} "
                "(GUARDQ_MAX_TEXT_CHARS)",
                "text_too_long",
            )
        )


def check_count(loc: Loc, count: int, settings: Settings) -> None:
    """Raise InputError when a request carries more items than GUARDQ_MAX_ITEMS_PER_REQUEST."""
    if count > settings.max_items_per_request:
        raise InputError(
            [
                FieldError(
                    loc,
                    f"{count} items, over the limit of {settings.max_items_per_request} per "
                    "request (GUARDQ_MAX_ITEMS_PER_REQUEST)",
                    "too_many_items",
                )
            ]
        )


def _job_item(
    index: int, item: JobItemIn, mode: Mode, settings: Settings, errors: list[FieldError]
) -> NewItem | None:
    loc: Loc = ("items", index)
    has_text = item.text is not None
    has_pair = item.prompt is not None or item.response is not None
    before = len(errors)
    if has_text and has_pair:
        errors.append(FieldError(loc, "give either text, or prompt and response; not both"))
    elif not has_text and not has_pair:
        errors.append(
            FieldError(
                loc,
                "missing content: give text (mode 'prompt') or prompt and response "
                "(mode 'response')",
                "missing",
            )
        )
    elif has_text and mode is Mode.RESPONSE:
        errors.append(
            FieldError(
                (*loc, "text"),
                "mode 'response' takes prompt and response, not text",
                "wrong_mode",
            )
        )
    elif has_pair and mode is Mode.PROMPT:
        errors.append(
            FieldError(
                loc,
                "a prompt and response pair needs mode 'response'; this job's mode is 'prompt'",
                "wrong_mode",
            )
        )
    else:
        for field in ("text",) if has_text else ("prompt", "response"):
            value = getattr(item, field)
            if value is None:
                errors.append(FieldError((*loc, field), "required with mode 'response'", "missing"))
            else:
                check_text((*loc, field), value, settings, errors)
    if item.ref is not None:
        _check_storable((*loc, "ref"), item.ref, errors)
    if item.metadata is not None:
        size = len(json.dumps(item.metadata, ensure_ascii=False, separators=(",", ":")))
        if size > MAX_METADATA_CHARS:
            errors.append(
                FieldError(
                    (*loc, "metadata"),
                    f"{size} characters of JSON, over the limit of {MAX_METADATA_CHARS}",
                    "metadata_too_long",
                )
            )
        else:
            _check_metadata((*loc, "metadata"), item.metadata, errors)
    authors: tuple[str, ...] = ()
    if item.author is not None:
        try:
            authors = settings.author_hashes(item.author)
        except ValueError as exc:
            errors.append(FieldError((*loc, "author"), str(exc), "authors_disabled"))
    if len(errors) > before:
        return None
    if mode is Mode.PROMPT:
        return NewItem(text=item.text, ref=item.ref, metadata=item.metadata, author_hashes=authors)
    return NewItem(
        text=item.response,
        prompt=item.prompt,
        ref=item.ref,
        metadata=item.metadata,
        author_hashes=authors,
    )


def job_items(body: JobCreate, settings: Settings) -> list[NewItem]:
    """The job's items as store inputs; raises InputError listing every problem."""
    check_count(("items",), len(body.items), settings)
    errors: list[FieldError] = []
    items = [
        _job_item(index, item, body.mode, settings, errors) for index, item in enumerate(body.items)
    ]
    if errors:
        raise InputError(errors)
    return items


def moderation_items(value: object, settings: Settings) -> list[NewItem]:
    """OpenAI's ``input`` (a string or an array of strings) as prompt-mode items."""
    if isinstance(value, str):
        texts: Sequence[object] = [value]
        locs: list[Loc] = [("input",)]
    elif isinstance(value, list):
        if not value:
            raise InputError(
                [FieldError(("input",), "the array is empty; give at least one string")]
            )
        check_count(("input",), len(value), settings)
        texts, locs = value, [("input", index) for index in range(len(value))]
    else:
        raise InputError(
            [
                FieldError(
                    ("input",),
                    f"expected a string or an array of strings, got {json_type(value)}",
                    "type_error",
                )
            ]
        )
    errors: list[FieldError] = []
    for loc, text in zip(locs, texts, strict=True):
        if isinstance(text, str):
            check_text(loc, text, settings, errors)
        else:
            errors.append(
                FieldError(loc, f"expected a string, got {json_type(text)}", "type_error")
            )
    if errors:
        raise InputError(errors)
    return [NewItem(text=text) for text in texts]


def job_destinations(body: JobCreate, settings: Settings, resolver: Resolver | None) -> None:
    """Refuse a callback or alert URL that leads to a non-public address (unless
    GUARDQ_CALLBACK_ALLOW allows it: the worker would POST there from inside), and an
    alert URL where the deployment has no secret to sign alerts with."""
    errors: list[FieldError] = []
    if body.alert_url is not None and settings.signing_secret is None:
        errors.append(
            FieldError(
                ("alert_url",),
                "this deployment cannot sign alerts: GUARDQ_SIGNING_SECRET is not set",
                "alerts_unsigned",
            )
        )
    for field in ("callback_url", "alert_url"):
        url = getattr(body, field)
        if url is None:
            continue
        try:
            check_url(url, settings.outbound_allowed, resolver)
        except ForbiddenDestination as exc:
            errors.append(FieldError((field,), str(exc), "forbidden_destination"))
    if errors:
        raise InputError(errors)
