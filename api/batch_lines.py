"""One line of a Batch API input file, checked: ``{custom_id, method, url, body}``.

A line becomes either the items to judge (``LineWork``) or the reason it cannot run
(``LineError``: the line number, the problem, the parameter; never the content). The
body follows the same rules as the endpoint it names: ``/v1/moderations`` takes
``input`` (a string or an array of strings) and an optional ``model``;
``/v1/chat/completions`` takes ``model`` and ``messages``, one user turn (prompt
moderation) or a user turn then an assistant turn (response moderation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from api.errors import InputError
from api.openai_compat import accepts_model, public_model_name
from api.validation import json_type, moderation_items
from guardq.settings import Settings
from guardq.store.batches import LineError
from guardq.store.jobs import NewItem
from guardq.store.models import REF_LENGTH
from guardq.verdict import Mode

MODERATIONS = "/v1/moderations"
CHAT_COMPLETIONS = "/v1/chat/completions"
ENDPOINTS = (MODERATIONS, CHAT_COMPLETIONS)

# A line is parsed whole, so it is bounded: twice the longest chat pair, escaped.
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class LineWork:
    line: int
    custom_id: str
    mode: Mode
    items: tuple[NewItem, ...]


class _Refused(Exception):
    def __init__(self, message: str, param: str | None = None, code: str = "invalid_request"):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def _texts(value: object, param: str, settings: Settings) -> list[NewItem]:
    """``moderation_items``'s checks, with the field named as the line names it."""
    try:
        return moderation_items(value, settings)
    except InputError as exc:
        first = exc.errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else "" for p in first.loc[1:])
        raise _Refused(first.msg, f"{param}{where}", first.type) from None


def _moderation(body: dict, settings: Settings) -> tuple[Mode, list[NewItem]]:
    model = body.get("model")
    if model is not None and not (isinstance(model, str) and accepts_model(model, settings.model)):
        raise _Refused(
            f"this deployment serves {public_model_name(settings.model)}; send that or leave "
            "it out",
            "body.model",
            "model_not_found",
        )
    if "input" not in body:
        raise _Refused("missing: give a string or an array of strings", "body.input", "missing")
    return Mode.PROMPT, _texts(body["input"], "body.input", settings)


def _content(message: dict, param: str) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for index, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text"):
                raise _Refused("only text parts are accepted", f"{param}[{index}]")
            if not isinstance(part.get("text"), str):
                raise _Refused("expected a string", f"{param}[{index}].text", "type_error")
            parts.append(part["text"])
        return "".join(parts)
    raise _Refused(
        f"expected a string or text parts, got {json_type(content)}", param, "type_error"
    )


def _chat(body: dict, settings: Settings) -> tuple[Mode, list[NewItem]]:
    served = public_model_name(settings.model)
    model = body.get("model")
    if model not in (served, settings.model):
        raise _Refused(
            f"this deployment serves {served}; got {model!r}" if isinstance(model, str)
            else f"required: the served model, {served}",
            "body.model",
            "model_not_found",
        )  # fmt: skip
    if body.get("stream"):
        raise _Refused("streaming is not available in a batch", "body.stream")
    if body.get("n") not in (None, 1):
        raise _Refused("guardq gives one answer per request: n must be 1", "body.n")
    messages = body.get("messages")
    roles = (
        [m.get("role") if isinstance(m, dict) else None for m in messages]
        if isinstance(messages, list)
        else None
    )
    if roles not in (["user"], ["user", "assistant"]):
        raise _Refused(
            "guardq takes one user message (prompt moderation) or a user message then an "
            "assistant message (response moderation)",
            "body.messages",
        )
    texts = [_content(m, f"body.messages[{i}].content") for i, m in enumerate(messages)]
    checked = [
        _texts(text, f"body.messages[{i}].content", settings)[0] for i, text in enumerate(texts)
    ]
    if len(checked) == 1:
        return Mode.PROMPT, checked
    return Mode.RESPONSE, [NewItem(text=checked[1].text, prompt=checked[0].text)]


def parse_line(
    raw: bytes | None, line: int, endpoint: str, settings: Settings, seen: set[str]
) -> LineWork | LineError:
    """Line ``line`` (1-based) of a batch for ``endpoint``; ``seen`` holds the custom_ids
    of the lines before it (and gets this one's)."""
    custom_id: str | None = None
    try:
        if raw is None:
            raise _Refused(f"the line is longer than {MAX_LINE_BYTES} bytes", None, "line_too_long")
        try:
            request = json.loads(raw)
        except UnicodeDecodeError:
            raise _Refused("the line is not valid UTF-8", None, "invalid_json") from None
        except json.JSONDecodeError as exc:
            raise _Refused(
                f"not valid JSON ({exc.msg} at column {exc.colno})", None, "invalid_json"
            ) from None
        if not isinstance(request, dict):
            raise _Refused(
                f"expected a JSON object, got {json_type(request)}", None, "invalid_json"
            )
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            custom_id = None
            raise _Refused("required: a non-empty string", "custom_id", "missing")
        if len(custom_id) > REF_LENGTH:
            custom_id = None
            raise _Refused(f"longer than {REF_LENGTH} characters", "custom_id")
        if "\x00" in custom_id:
            custom_id = None
            raise _Refused("contains the NUL character", "custom_id")
        if custom_id in seen:
            raise _Refused(
                f"custom_id {custom_id!r} is used by an earlier line; each must be unique",
                "custom_id",
                "duplicate_custom_id",
            )
        seen.add(custom_id)
        if request.get("method") != "POST":
            raise _Refused("must be POST", "method")
        if request.get("url") != endpoint:
            raise _Refused(f"must be {endpoint}, the batch's endpoint", "url")
        body = request.get("body")
        if not isinstance(body, dict):
            raise _Refused(f"expected a JSON object, got {json_type(body)}", "body", "type_error")
        mode, items = (_moderation if endpoint == MODERATIONS else _chat)(body, settings)
        meta = {"line": line}
        items = [NewItem(text=i.text, prompt=i.prompt, ref=custom_id, metadata=meta) for i in items]
        return LineWork(line=line, custom_id=custom_id, mode=mode, items=tuple(items))
    except _Refused as refused:
        return LineError(line, custom_id, refused.code, refused.message, refused.param)
