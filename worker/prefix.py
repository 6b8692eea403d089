"""The official rendering, and the shared header every unit of a mode starts with.

The token ids the model sees are those of the model card: the chat template renders
the messages to a string, and the tokenizer encodes the whole string; only a
special-token string inside submitted content stays plain text (``worker.rendering``). The
header (task, policy, categories, "USER: ") is the same for every unit of a mode, so
its KV cache can be computed once. Where it ends is found on token ids, not on
characters: byte-level BPE may merge the header's last characters with the content's
first (" " + "hello" -> " hello"), so the cached prefix is the longest run of ids that
renderings of very different probe contents all share, and every unit is checked to
start with it before the cache is used for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from guardq.verdict import Mode
from worker.rendering import renderer

# Probe contents that start with every kind of character a content may start with, so
# that the shared run of ids stops before anything a merge could change.
_PROBES = ("a", "A", " a", "  x", "\n", "\t!", "1", "你", "😀", ".", "'s", "<|im_end|>", "Safety")


def render_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> list[int]:
    """The ids of the official rendering (``apply_chat_template`` to a string, then the
    whole string tokenised, as the model card's ``tokenizer([text])`` does), except that
    special-token strings inside a content stay plain text (``worker.rendering``)."""
    return renderer(tokenizer).ids(messages)


def _probe_messages(mode: Mode, probe: str) -> list[dict[str, str]]:
    if mode is Mode.PROMPT:
        return [{"role": "user", "content": probe}]
    # The header ends at the user's prompt; the response comes later, after it.
    return [{"role": "user", "content": probe}, {"role": "assistant", "content": "ok"}]


@dataclass(frozen=True)
class Prefix:
    """The header ids shared by every unit of ``mode``."""

    mode: Mode
    ids: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def matches(self, ids: list[int]) -> bool:
        """Whether ``ids`` start with this prefix and go on past it."""
        n = len(self.ids)
        return len(ids) > n and tuple(ids[:n]) == self.ids

    @classmethod
    def find(cls, tokenizer: PreTrainedTokenizerBase, mode: Mode) -> Prefix:
        """The longest run of leading ids that the renderings of all probes share."""
        renderings = [render_ids(tokenizer, _probe_messages(mode, p)) for p in _PROBES]
        shared = renderings[0]
        for ids in renderings[1:]:
            n = 0
            for a, b in zip(shared, ids, strict=False):
                if a != b:
                    break
                n += 1
            shared = shared[:n]
        return cls(mode=mode, ids=tuple(shared))
