"""``POST /beta/litellm_basic_guardrail_api``: LiteLLM's Generic Guardrail API.

LiteLLM's ``generic_guardrail_api`` guardrail posts to this path under its
``api_base`` (give guardq's base URL), with the configured ``api_key`` as the
``x-api-key`` header (a bearer token works too): a producer key. Its payload carries
``texts`` and ``input_type``:

- ``request`` (``pre_call`` / ``during_call``): each text is moderated as a prompt;
- ``response`` (``post_call``): each text is moderated as the assistant's response to
  the last user message of ``structured_messages`` when LiteLLM sends them, else as a
  text on its own (prompt moderation).

The answer is ``NONE`` when guardq's policy allows every text, else ``BLOCKED`` with a
reason naming the verdict (never the text) and the job holding the audit record: an
item held for review is blocked too, guardq fails closed. guardq does not rewrite
content, so it never answers ``GUARDRAIL_INTERVENED``. Images and tool definitions
are not moderated. Fields LiteLLM adds in later releases are accepted and ignored;
errors use the OpenAI error format LiteLLM itself speaks.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, JsonValue, StrictStr

from api.client_errors import VLLMErrorRoute
from api.deps import GatewayProducerKey
from api.errors import FieldError, InputError
from api.realtime_wait import moderate_now
from api.validation import check_count, check_text
from guardq.policy import Action
from guardq.settings import Settings
from guardq.store.jobs import ItemResult, NewItem
from guardq.verdict import Mode

router = APIRouter(tags=["litellm"], route_class=VLLMErrorRoute)


class GuardrailRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    input_type: Literal["request", "response"]
    texts: list[StrictStr] | None = None
    structured_messages: list[dict[str, JsonValue]] | None = None
    litellm_call_id: StrictStr | None = None


def _last_user_text(messages: list[dict[str, JsonValue]] | None) -> str | None:
    for message in reversed(messages or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            parts = [
                p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"
            ]
            content = "\n".join(p for p in parts if isinstance(p, str))
        return content if isinstance(content, str) and content.strip() else None
    return None


def _items(body: GuardrailRequest, settings: Settings) -> tuple[Mode, list[NewItem]]:
    texts = [(index, text) for index, text in enumerate(body.texts or []) if text.strip()]
    check_count(("texts",), len(texts), settings)
    prompt = _last_user_text(body.structured_messages) if body.input_type == "response" else None
    errors: list[FieldError] = []
    for index, text in texts:
        check_text(("texts", index), text, settings, errors)
    if prompt is not None:
        check_text(("structured_messages",), prompt, settings, errors)
    if errors:
        raise InputError(errors)
    if prompt is None:
        return Mode.PROMPT, [NewItem(text=text) for _, text in texts]
    return Mode.RESPONSE, [NewItem(text=text, prompt=prompt) for _, text in texts]


def _blocked_reason(row: ItemResult, job_id) -> str:
    verdict = row.verdict
    severity = verdict.severity.value if verdict.severity else "unparsed"
    categories = (
        f" ({', '.join(c.value for c in verdict.categories)})" if verdict.categories else ""
    )
    return (
        f"guardq: {severity}{categories}, {verdict.action.value}: {verdict.reason} (job {job_id})"
    )


@router.post("/beta/litellm_basic_guardrail_api")
async def litellm_guardrail(
    body: GuardrailRequest, key: GatewayProducerKey, request: Request
) -> dict:
    """``NONE`` or ``BLOCKED`` for the texts LiteLLM extracted from a call."""
    mode, items = _items(body, request.app.state.settings)
    if not items:
        return {"action": "NONE"}
    job_id, rows = await moderate_now(request, key, mode=mode, items=items)
    flagged = [row for row in rows if row.verdict.action is not Action.ALLOW]
    if not flagged:
        return {"action": "NONE"}
    return {"action": "BLOCKED", "blocked_reason": _blocked_reason(flagged[0], job_id)}
