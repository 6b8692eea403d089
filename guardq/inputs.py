"""What can be moderated: a user's prompt, or an assistant's response to a prompt.

These are the engine's input types, torch-free so that the API and the CLI can build and
validate them. ``coerce_inputs`` is the one place where loose values (strings, JSON rows)
become typed inputs; its errors name the item's index, the field and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guardq.verdict import Mode


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
