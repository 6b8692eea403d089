"""Units of work: each input becomes one or more token windows of its content.

A unit is what the model sees once: the moderated content (or one window of it) in
its mode, rendered by the chat template like any whole item. Windows are cut on token
boundaries of the content tokenized on its own, ``chunk_tokens`` long and overlapping
by ``chunk_overlap``, and carry their character span so that a reviewer sees which
part of the text decided the verdict.

Response mode chunks the response, the content being judged. The prompt is context
and goes with every window; a prompt longer than ``chunk_tokens`` keeps only its last
``chunk_tokens`` tokens (the part nearest the response, where the question usually
is), so that one unit never exceeds about twice ``chunk_tokens`` plus the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from guardq.inputs import ModerationInput, ResponseInput
from guardq.verdict import Mode, Span
from worker.rendering import renderer


@dataclass(frozen=True)
class Unit:
    """One window of one input, as the model will see it."""

    item: int
    chunk: int
    mode: Mode
    content: str
    span: Span
    # Response mode: the prompt the response answers (possibly its tail, see above).
    prompt: str | None = None

    def messages(self) -> list[dict[str, str]]:
        """The chat messages the Qwen3Guard template renders for this unit."""
        if self.mode is Mode.PROMPT:
            return [{"role": "user", "content": self.content}]
        return [
            {"role": "user", "content": self.prompt or ""},
            {"role": "assistant", "content": self.content},
        ]


def windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Token ranges ``[start, end)`` covering ``n_tokens``: ``size`` long, each
    starting ``size - overlap`` after the last, the final one flush with the end."""
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - overlap
    starts = list(range(0, n_tokens - size, step)) + [n_tokens - size]
    return [(start, start + size) for start in starts]


def split_text(
    text: str, tokenizer: PreTrainedTokenizerBase, size: int, overlap: int
) -> list[Span]:
    """Character spans of the token windows of ``text`` (one span when it fits)."""
    offsets = _offsets(text, tokenizer)
    if len(offsets) <= size:
        return [Span(0, len(text))]
    spans = []
    for start, end in windows(len(offsets), size, overlap):
        first = 0 if start == 0 else offsets[start][0]
        last = len(text) if end == len(offsets) else offsets[end - 1][1]
        spans.append(Span(first, last))
    return spans


def tail(text: str, tokenizer: PreTrainedTokenizerBase, size: int) -> str:
    """``text`` cut to its last ``size`` tokens."""
    offsets = _offsets(text, tokenizer)
    if len(offsets) <= size:
        return text
    return text[offsets[len(offsets) - size][0] :]


def plan_units(
    inputs: Sequence[ModerationInput],
    tokenizer: PreTrainedTokenizerBase,
    *,
    chunk_tokens: int,
    chunk_overlap: int,
) -> list[Unit]:
    """The units of ``inputs``, item by item and window by window."""
    units = []
    for index, item in enumerate(inputs):
        prompt = None
        if isinstance(item, ResponseInput):
            prompt = tail(item.prompt, tokenizer, chunk_tokens)
        content = item.content
        for chunk, span in enumerate(split_text(content, tokenizer, chunk_tokens, chunk_overlap)):
            units.append(
                Unit(
                    item=index,
                    chunk=chunk,
                    mode=item.mode,
                    content=content[span.start : span.end],
                    span=span,
                    prompt=prompt,
                )
            )
    return units


def _offsets(text: str, tokenizer: PreTrainedTokenizerBase) -> list[tuple[int, int]]:
    # As the model will see the content: special-token strings in it are plain text.
    return renderer(tokenizer).content_offsets(text)
