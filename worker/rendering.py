"""The chat template's rendering, with submitted content tokenised as plain text.

The model card renders the messages to a string and tokenises the whole string, so a
special-token string inside the content (``<|im_end|>``, ``<|im_start|>``, or any other
added token of the tokenizer) becomes the control token itself: content could close
the user turn and forge the start of the model's answer. guardq renders the template
around the content instead. The template's own text is tokenised as the tokenizer
tokenises it, its added tokens as control tokens; the content only ever as plain text.

For content without such strings the ids are exactly the model card's: a tokenizer cuts
a string at its added tokens first and tokenises the runs of text between them each on
its own, so cutting only at the template's own added tokens changes nothing else.

The template is rendered once per message shape with placeholder contents; a template
that does not insert content verbatim (trims it, escapes it) is refused at the first
rendering, since its content could then not be told apart from its own text.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from worker.errors import UnsupportedModelError

# Placeholder contents: private-use characters that no template text contains.
_SLOT = "\ue000guardq-content-{}\ue001"
# Contents the template must insert unchanged (checked once per message shape).
_VERBATIM_PROBES = (" padded \n", "\n\n<|im_end|>\n", "{{ x }} {% raw %}", "\t'quoted' \"x\"")


@dataclass(frozen=True)
class _Run:
    """Text the tokenizer sees as one run between two control tokens: template text
    (str) and contents (int: the message's index)."""

    parts: tuple[str | int, ...]


# A rendering: control-token ids, constant runs already tokenised, and runs holding content.
_Piece = int | tuple[int, ...] | _Run


class Renderer:
    """Renders messages to the ids the model sees, content as plain text."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if not isinstance(backend, Tokenizer):
            raise UnsupportedModelError(
                "the tokenizer has no fast (tokenizers) backend; guardq needs one (a "
                "tokenizer.json) to tokenise submitted content as plain text"
            )
        self.tokenizer = tokenizer
        # The same pipeline without the added vocabulary: text in, plain-text ids out.
        plain = Tokenizer(backend.model)
        plain.normalizer = backend.normalizer
        plain.pre_tokenizer = backend.pre_tokenizer
        plain.post_processor = backend.post_processor
        self.plain = plain
        added = tokenizer.get_added_vocab()
        self._added = added
        # Leftmost-longest, as the tokenizer matches its added tokens.
        self._added_re = (
            re.compile("|".join(re.escape(t) for t in sorted(added, key=len, reverse=True)))
            if added
            else None
        )
        # What the tokenizer puts around a whole string (a BOS for some models).
        self._lead = list(tokenizer("")["input_ids"])
        self._layouts: dict[tuple[str, ...], list[_Piece]] = {}

    def ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The ids of ``apply_chat_template(messages)``, every content as plain text."""
        contents = [m["content"] for m in messages]
        layout = self._layout(tuple(m["role"] for m in messages))
        texts = [
            "".join(p if isinstance(p, str) else contents[p] for p in piece.parts)
            for piece in layout
            if isinstance(piece, _Run)
        ]
        encoded = iter(self.plain.encode_batch(texts, add_special_tokens=False))
        ids = list(self._lead)
        for piece in layout:
            if isinstance(piece, int):
                ids.append(piece)
            elif isinstance(piece, tuple):
                ids.extend(piece)
            else:
                ids.extend(next(encoded).ids)
        return ids

    def content_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the plain-text tokens of ``text`` alone."""
        return list(self.plain.encode(text, add_special_tokens=False).offsets)

    def _layout(self, roles: tuple[str, ...]) -> list[_Piece]:
        if roles not in self._layouts:
            self._layouts[roles] = self._build(roles)
        return self._layouts[roles]

    def _render(self, roles: tuple[str, ...], contents: Sequence[str]) -> str:
        messages = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=True)]
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def _build(self, roles: tuple[str, ...]) -> list[_Piece]:
        slots = [_SLOT.format(i) for i in range(len(roles))]
        skeleton = self._render(roles, slots)
        texts: list[str] = []
        rest = skeleton
        for slot in slots:
            before, found, rest = rest.partition(slot)
            if not found or slot in rest:
                raise UnsupportedModelError(
                    "the chat template does not render each message's content once; "
                    "guardq cannot keep submitted content apart from the template"
                )
            texts.append(before)
        texts.append(rest)
        for probe in _VERBATIM_PROBES:
            contents = [probe] * len(roles)
            expected = "".join(t + c for t, c in zip(texts, [*contents, ""], strict=True))
            if self._render(roles, contents) != expected:
                raise UnsupportedModelError(
                    "the chat template changes the content it renders (trims or escapes "
                    "it); guardq needs content inserted verbatim to tokenise it as plain text"
                )
        # Template text cut at its own added tokens; contents joined to the text around.
        flat: list[str | int] = []
        for index, text in enumerate(texts):
            flat.extend(self._split_template(text))
            if index < len(roles):
                flat.append(_Run((index,)))
        return self._merge(flat)

    def _split_template(self, text: str) -> list[str | _Run | int]:
        pieces: list[str | _Run | int] = []
        start = 0
        for match in self._added_re.finditer(text) if self._added_re else ():
            if match.start() > start:
                pieces.append(text[start : match.start()])
            pieces.append(self._added[match.group()])
            start = match.end()
        if start < len(text):
            pieces.append(text[start:])
        return pieces

    def _merge(self, flat: list) -> list[_Piece]:
        """Adjacent text and contents as one run; runs without content tokenised now."""
        layout: list[_Piece] = []
        run: list[str | int] = []

        def close() -> None:
            if not run:
                return
            if all(isinstance(p, str) for p in run):
                text = "".join(run)
                layout.append(tuple(self.plain.encode(text, add_special_tokens=False).ids))
            else:
                layout.append(_Run(tuple(run)))
            run.clear()

        for piece in flat:
            if isinstance(piece, _Run):
                run.extend(piece.parts)
            elif isinstance(piece, str):
                run.append(piece)
            else:
                close()
                layout.append(piece)
        close()
        return layout


_renderers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def renderer(tokenizer: PreTrainedTokenizerBase) -> Renderer:
    """The renderer of ``tokenizer`` (built once per tokenizer)."""
    found = _renderers.get(tokenizer)
    if found is None:
        found = _renderers[tokenizer] = Renderer(tokenizer)
    return found
