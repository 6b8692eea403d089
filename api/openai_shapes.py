"""guardq verdicts as the bodies OpenAI's endpoints answer: the canonical guard reply,
a chat completion (what ``vllm serve`` of a Qwen3Guard-Gen model returns for a guard
conversation), a moderation response and an error object. Plain dicts, so that the
Batch API's output lines and the HTTP routes (``POST /v1/chat/completions``,
``api.client_errors``) share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.openai_compat import moderation_result
from guardq.store.jobs import ItemResult
from guardq.store.verdicts import StoredVerdict
from guardq.verdict import Mode, sorted_categories


class UnparsedVerdict(ValueError):
    """The model's answer did not parse: there is no canonical reply to give (guardq never
    makes up a "Safe"); answer an error instead."""


def guard_reply(verdict: StoredVerdict, mode: Mode) -> str:
    """The canonical Qwen3Guard-Gen answer for ``verdict``: ``Safety: …``,
    ``Categories: …`` (in the official order; ``None`` when there are none) and, in
    response mode when the refusal is known, ``Refusal: Yes|No``. ``UnparsedVerdict``
    when the model's answer did not parse."""
    if verdict.severity is None:
        raise UnparsedVerdict(
            f"the model's answer did not parse ({verdict.error or verdict.reason})"
        )
    names = ", ".join(c.value for c in sorted_categories(verdict.categories)) or "None"
    lines = [f"Safety: {verdict.severity.value}", f"Categories: {names}"]
    if mode is Mode.RESPONSE and verdict.refusal is not None:
        lines.append(f"Refusal: {'Yes' if verdict.refusal else 'No'}")
    return "\n".join(lines)


def chat_completion(
    *,
    completion_id: str,
    created: int,
    model: str,
    content: str,
    usage: tuple[int, int] | None = None,
    guardq: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` with one assistant message, ``content``, in the fields and
    order ``vllm serve`` answers.

    ``usage``: (prompt tokens, completion tokens) when the caller counted them; without
    it ``usage`` is null (optional in OpenAI's schema, and a made-up count would be
    worse than none). ``guardq``: guardq's own member beside vLLM's, when given.
    """
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "tool_calls": [],
                    "reasoning_content": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": None,
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }
    if usage is not None:
        prompt_tokens, completion_tokens = usage
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens": completion_tokens,
            "prompt_tokens_details": None,
        }
    if guardq is not None:
        body["guardq"] = guardq
    return body


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
    code: str | int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
