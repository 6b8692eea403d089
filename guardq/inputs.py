"""What can be moderated: a user's prompt, or an assistant's response to a prompt.

These are the engine's input types, torch-free so that the API and the CLI can build and
validate them. ``coerce_inputs`` is the one place where loose values (strings, JSON rows)
become typed inputs; its errors name the item's index, the field and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guardq.verdict import Mode

_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(value: str) -> tuple[str, str] | None:
    """Why the audit store cannot hold ``value`` as text (message, type), or None.

    Postgres text cannot hold U+0000, and a lone surrogate (U+D800 to U+DFFF, which JSON
    escapes can spell) is not Unicode text at all: no UTF-8 encoding, no hash, no row.
    The API and ``guardq label`` refuse such text where it enters, rather than letting
    it fail at the worker, where a batch holds other producers' items.
    """
    position = value.find("\x00")
    if position >= 0:
        return (
            f"contains the NUL character (U+0000) at position {position}, which the audit "
            "store cannot hold; remove it",
            "nul_character",
        )
    match = _SURROGATE.search(value)
    if match:
        return (
            f"contains a lone surrogate (U+{ord(match.group()):04X}) at position "
            f"{match.start()}, which is not Unicode text; send valid UTF-8",
            "lone_surrogate",
        )
    return None


@dataclass(frozen=True)
class PromptInput:
    """Prompt moderation: is the user's ``text`` safe to answer?"""

    text: str

    @property
    def mode(self) -> Mode:
        return Mode.PROMPT

    @property
    def content(self) -> str:
        """The text the verdict (and its spans) is about."""
        return self.text


@dataclass(frozen=True)
class ResponseInput:
    """Response moderation: is the assistant's ``response`` to ``prompt`` safe?"""

    prompt: str
    response: str

    @property
    def mode(self) -> Mode:
        return Mode.RESPONSE

    @property
    def content(self) -> str:
        """The text the verdict (and its spans) is about: the response, not the prompt."""
        return self.response


ModerationInput = PromptInput | ResponseInput


def coerce_inputs(inputs: object) -> list[ModerationInput]:
    """One input or a sequence of them, as a list of validated typed inputs.

    Accepted per item: a ``PromptInput`` / ``ResponseInput``; a ``str`` (prompt
    moderation); a mapping with ``text``, or with ``prompt`` and ``response``. Every
    text must be a non-blank string. Raises ``ValueError`` naming the first bad item's
    index and what is wrong with it.
    """
    if isinstance(inputs, str | PromptInput | ResponseInput | Mapping):
        items: Sequence[object] = [inputs]
    elif isinstance(inputs, Sequence):
        items = inputs
    else:
        raise ValueError(
            f"inputs: expected one input or a list of them, got {type(inputs).__name__}"
        )
    if not items:
        raise ValueError("inputs: the list is empty; expected at least one input")
    return [_coerce_one(index, item) for index, item in enumerate(items)]


def _coerce_one(index: int, item: object) -> ModerationInput:
    if isinstance(item, str):
        return PromptInput(_text(index, "text", item))
    if isinstance(item, PromptInput):
        return PromptInput(_text(index, "text", item.text))
    if isinstance(item, ResponseInput):
        return ResponseInput(
            _text(index, "prompt", item.prompt), _text(index, "response", item.response)
        )
    if isinstance(item, Mapping):
        keys = set(item)
        if keys == {"text"}:
            return PromptInput(_text(index, "text", item["text"]))
        if keys == {"prompt", "response"}:
            return ResponseInput(
                _text(index, "prompt", item["prompt"]), _text(index, "response", item["response"])
            )
        raise ValueError(
            f"inputs[{index}]: expected keys {{'text'}} or {{'prompt', 'response'}}, "
            f"got {sorted(map(str, keys))}"
        )
    raise ValueError(
        f"inputs[{index}]: expected a string, PromptInput, ResponseInput or mapping, "
        f"got {type(item).__name__}"
    )


def _text(index: int, field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"inputs[{index}].{field}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"inputs[{index}].{field}: is empty or whitespace only")
    return value
