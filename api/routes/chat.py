"""``POST /v1/chat/completions`` and ``GET /v1/models``, as ``vllm serve`` of a
Qwen3Guard-Gen model answers a guard conversation.

A caller that points the OpenAI client at guardq instead of vLLM sends the same
``messages``, one user turn (prompt moderation) or a user turn and the assistant's
reply (response moderation), and reads ``choices[0].message.content``:
``Safety: ...``, ``Categories: ...`` and, for a response, ``Refusal: ...``. The text is
guardq's verdict (the aggregate of every window of a long input) in the model's own
format, judged through the realtime path of ``POST /v1/moderations`` (verdict cache,
policy, audit store, escalations). What vLLM would generate freely guardq does not
invent: an answer that did not parse is an error, never a made-up ``Safe``. A
``guardq`` member beside vLLM's fields carries the policy's action and the job id.

Everything else (other roles or turn counts, ``stream``, ``n`` > 1, images) is a 400
in vLLM's error format saying what guardq accepts (``api.client_errors``).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, JsonValue, StrictBool, StrictInt, StrictStr

from api.client_errors import ClientError, VLLMErrorRoute
from api.deps import ProducerKey
from api.errors import FieldError, InputError
from api.openai_compat import public_model_name
from api.openai_shapes import UnparsedVerdict, chat_completion, guard_reply
from api.realtime_wait import moderate_now
from api.usage import count_usage
from api.validation import check_text, json_type
from guardq.settings import Settings
from guardq.store.jobs import NewItem
from guardq.verdict import Mode

router = APIRouter(tags=["vllm"], route_class=VLLMErrorRoute)

ACCEPTED = (
    "guardq answers a guard conversation: messages = [user] (prompt moderation) or "
    "[user, assistant] (response moderation)"
)


class ChatCompletionRequest(BaseModel):
    """vLLM's request; sampling fields (temperature, max_tokens, ...) are accepted and
    ignored: the verdict does not depend on them."""

    model_config = ConfigDict(extra="allow")

    # Typed loosely: guard_conversation names the wrong element and what is accepted.
    messages: JsonValue
    model: StrictStr | None = None
    stream: StrictBool | None = False
    n: StrictInt | None = 1


def _content(index: int, content: object, errors: list[FieldError]) -> str | None:
    loc = ("messages", index, "content")
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for part_index, part in enumerate(content):
            if (
                isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                texts.append(part["text"])
                continue
            errors.append(
                FieldError(
                    (*loc, part_index),
                    "guardq moderates text: each content part must be "
                    '{"type": "text", "text": "..."}',
                )
            )
        # vLLM joins a message's text parts with newlines.
        return "\n".join(texts)
    errors.append(
        FieldError(loc, f"expected a string or an array of text parts, got {json_type(content)}")
    )
    return None


def guard_conversation(messages: object, settings: Settings) -> tuple[Mode, NewItem]:
    """The mode and the item a guard conversation asks about; InputError otherwise."""
    if not isinstance(messages, list):
        raise InputError(
            [FieldError(("messages",), f"expected an array, got {json_type(messages)}")]
        )
    errors: list[FieldError] = []
    roles: list[str] = []
    texts: list[str | None] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            errors.append(
                FieldError(("messages", index), f"expected an object, got {json_type(message)}")
            )
            continue
        role = message.get("role")
        roles.append(role if isinstance(role, str) else repr(role))
        texts.append(_content(index, message.get("content"), errors))
    if errors:
        raise InputError(errors)
    if roles not in (["user"], ["user", "assistant"]):
        got = ", ".join(roles) or "nothing"
        raise InputError([FieldError(("messages",), f"{ACCEPTED}; got [{got}]")])
    for index, text in enumerate(texts):
        check_text(("messages", index, "content"), text, settings, errors)
    if errors:
        raise InputError(errors)
    if len(texts) == 1:
        return Mode.PROMPT, NewItem(text=texts[0])
    return Mode.RESPONSE, NewItem(text=texts[1], prompt=texts[0])


def _served_model(requested: str | None, settings: Settings) -> str:
    served = public_model_name(settings.model)
    if requested is not None and requested not in (served, settings.model):
        # vLLM's words for an unknown model, and what this deployment serves instead.
        raise ClientError(
            404,
            f"The model `{requested}` does not exist. This deployment serves `{served}`.",
            "model",
        )
    return served


@router.post("/v1/chat/completions")
async def create_chat_completion(
    body: ChatCompletionRequest, key: ProducerKey, request: Request
) -> dict:
    """The verdict on a guard conversation, as vLLM's chat completion."""
    settings = request.app.state.settings
    if body.stream:
        raise ClientError(
            400,
            "stream=true is not supported: guardq answers with the whole verdict at once; "
            "leave stream out or send false",
            "stream",
        )
    if body.n is not None and body.n != 1:
        raise ClientError(
            400, f"n={body.n} is not supported: a conversation has one verdict; send n=1", "n"
        )
    served = _served_model(body.model, settings)
    mode, item = guard_conversation(body.messages, settings)
    job_id, (row,) = await moderate_now(request, key, mode=mode, items=[item])
    verdict = row.verdict
    try:
        content = guard_reply(verdict, mode)
    except UnparsedVerdict as exc:
        raise ClientError(
            502,
            f"{exc}; guardq reports no verdict rather than a guessed one (policy: "
            f"{verdict.action.value}, job {job_id})",
            # The OpenAI client retries 5xx answers; asking the model again changes nothing.
            headers={"x-should-retry": "false"},
        ) from None
    messages = [{"role": "user", "content": item.prompt if mode is Mode.RESPONSE else item.text}]
    if mode is Mode.RESPONSE:
        messages.append({"role": "assistant", "content": item.text})
    usage = await run_in_threadpool(count_usage, request.app.state, messages, content)
    return chat_completion(
        completion_id=f"chatcmpl-{job_id.hex}",
        created=int(time.time()),
        model=served,
        content=content,
        usage=usage,
        # guardq's own: what the policy does with this verdict, and where it is recorded.
        guardq={
            "action": verdict.action.value,
            "reason": verdict.reason,
            "job_id": str(job_id),
            "content_sha256": row.content_sha256,
            "served_from_cache": verdict.served_from_cache,
        },
    )


@router.get("/v1/models")
def list_models(key: ProducerKey, request: Request) -> dict:
    """The one model this deployment serves, as vLLM lists it."""
    settings = request.app.state.settings
    return {
        "object": "list",
        "data": [
            {
                "id": public_model_name(settings.model),
                "object": "model",
                "created": int(time.time()),
                "owned_by": "guardq",
                "root": public_model_name(settings.model),
                "parent": None,
            }
        ],
    }
