"""guardq verdicts as the bodies OpenAI's endpoints answer: a chat completion (what
``vllm serve`` of a Qwen3Guard-Gen model returns for a guard conversation) and a
moderation response. Plain dicts, so that the Batch API's output lines and the HTTP
routes share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.openai_compat import moderation_result
from guardq.store.jobs import ItemResult
from guardq.store.verdicts import StoredVerdict
from guardq.verdict import Mode


class UnparsedVerdict(ValueError):
    """The model's answer did not parse: there is no canonical reply to give (guardq never
    makes up a "Safe"); answer an error instead."""


def guard_reply(verdict: StoredVerdict, mode: Mode) -> str:
    """The canonical Qwen3Guard-Gen answer for ``verdict``: ``Safety: …``,
    ``Categories: …`` (``None`` when there are none) and, in response mode when the
    refusal is known, ``Refusal: Yes|No``."""
    if verdict.severity is None:
        raise UnparsedVerdict(f"the model's answer did not parse ({verdict.reason})")
    categories = ", ".join(category.value for category in verdict.categories) or "None"
    lines = [f"Safety: {verdict.severity.value}", f"Categories: {categories}"]
    if mode is Mode.RESPONSE and verdict.refusal is not None:
        lines.append(f"Refusal: {'Yes' if verdict.refusal else 'No'}")
    return "\n".join(lines)


def chat_completion(
    *,
    completion_id: str,
    created: int,
    model: str,
    content: str,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` object with one assistant message, ``content``.

    ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``) when the
    caller counted tokens; None otherwise (the field is optional in OpenAI's schema, and
    a made-up count would be worse than none).
    """
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def moderation_response(
    *, moderation_id: str, model: str, rows: Sequence[ItemResult]
) -> dict[str, Any]:
    """The body of ``POST /v1/moderations`` for judged ``rows`` (every verdict present)."""
    return {
        "id": moderation_id,
        "model": model,
        "results": [moderation_result(row).model_dump(mode="json") for row in rows],
    }


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
