"""``POST /v1/dify/moderation``: Dify's moderation API extension, answered by guardq.

Register it in Dify under Settings > API Extension (its URL, and a guardq producer key
as the API key, which Dify sends as ``Authorization: Bearer``), then pick it as an
app's content moderation. Dify posts ``{"point": ..., "params": {...}}``:

- ``ping``: ``{"result": "pong"}`` (Dify checks the extension with it when saved);
- ``app.moderation.input``: every text input variable and the query, one realtime
  job (prompt moderation); empty values and values that are not text (numbers,
  files) are skipped;
- ``app.moderation.output``: the text of the answer Dify streams, in 100-character
  steps. Dify sends the answer without its question, so it is judged as a text on its
  own (prompt moderation).

``flagged`` is guardq's policy: any item whose action is not ``allow`` (blocked, or
held for review: guardq fails closed). The answer is always ``direct_output`` with the
preset response GUARDQ_DIFY_PRESET_RESPONSE, or the ``preset_response`` query
parameter of the registered URL. Errors use Dify's own shape (``api.client_errors``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, JsonValue, StrictStr

from api.client_errors import ClientError, DifyErrorRoute
from api.deps import ProducerKey
from api.errors import FieldError, InputError
from api.realtime_wait import moderate_now
from api.validation import check_count, check_text, json_type
from guardq.policy import Action
from guardq.settings import Settings
from guardq.store.jobs import NewItem
from guardq.verdict import Mode

router = APIRouter(tags=["dify"], route_class=DifyErrorRoute)

POINTS = ("ping", "app.moderation.input", "app.moderation.output")


class DifyExtensionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    point: StrictStr
    params: dict[str, JsonValue] = {}


def _texts(pairs: list[tuple[tuple, object]], settings: Settings) -> list[NewItem]:
    """The texts to moderate among ``(loc, value)``; empty and non-text values skipped."""
    errors: list[FieldError] = []
    items = []
    for loc, value in pairs:
        if isinstance(value, str) and value.strip():
            check_text(loc, value, settings, errors)
            items.append(NewItem(text=value))
    if errors:
        raise InputError(errors)
    check_count(("params",), len(items), settings)
    return items


def _input_texts(params: dict, settings: Settings) -> list[NewItem]:
    inputs = params.get("inputs") or {}
    query = params.get("query")
    errors = []
    if not isinstance(inputs, dict):
        errors.append(
            FieldError(("params", "inputs"), f"expected an object, got {json_type(inputs)}")
        )
    if query is not None and not isinstance(query, str):
        errors.append(FieldError(("params", "query"), f"expected a string, got {json_type(query)}"))
    if errors:
        raise InputError(errors)
    pairs = [(("params", "inputs", name), value) for name, value in inputs.items()]
    return _texts([*pairs, (("params", "query"), query)], settings)


def _output_texts(params: dict, settings: Settings) -> list[NewItem]:
    text = params.get("text")
    if not isinstance(text, str):
        got = "nothing" if "text" not in params else json_type(text)
        raise InputError([FieldError(("params", "text"), f"expected a string, got {got}")])
    return _texts([(("params", "text"), text)], settings)


@router.post("/v1/dify/moderation")
async def dify_moderation(
    body: DifyExtensionRequest,
    key: ProducerKey,
    request: Request,
    preset_response: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
) -> dict:
    """One of Dify's extension points: ``ping``, ``app.moderation.input`` or
    ``app.moderation.output``."""
    settings = request.app.state.settings
    if body.point == "ping":
        return {"result": "pong"}
    if body.point == "app.moderation.input":
        items = _input_texts(body.params, settings)
    elif body.point == "app.moderation.output":
        items = _output_texts(body.params, settings)
    else:
        raise ClientError(
            400, f"unknown point {body.point!r}: guardq answers {', '.join(POINTS)}", "point"
        )
    flagged = False
    if items:
        _, rows = await moderate_now(request, key, mode=Mode.PROMPT, items=items)
        flagged = any(row.verdict.action is not Action.ALLOW for row in rows)
    preset = preset_response or settings.dify_preset_response
    return {
        "flagged": flagged,
        "action": "direct_output",
        "preset_response": preset if flagged else "",
    }
