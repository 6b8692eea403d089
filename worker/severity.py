"""Severity scores: how sure the model was when it wrote the severity word.

At the step where the model emits the severity word, the logits of the three
candidates' first tokens are renormalised into probabilities (a softmax over those
three logits). The step is the first one whose emitted token is a candidate's first
token and whose text so far ends with the lead ("Safety:"), so a candidate token
elsewhere in the output is never mistaken for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from guardq.verdict import Severity, SeverityScores

# The scores' field order: SeverityScores(safe, controversial, unsafe).
_ORDER = (Severity.SAFE, Severity.CONTROVERSIAL, Severity.UNSAFE)


@dataclass(frozen=True)
class SeverityTokens:
    """The first token of each severity word after the lead, in ``_ORDER``."""

    ids: tuple[int, int, int] | None
    lead: str = "Safety:"

    @classmethod
    def find(cls, tokenizer: PreTrainedTokenizerBase) -> SeverityTokens:
        """Read the candidates off the tokenizer; ``ids`` is None when two severity
        words share their first token (then no step can tell them apart)."""
        encoded = [
            tokenizer(f"Safety: {severity.value}", add_special_tokens=False)["input_ids"]
            for severity in _ORDER
        ]
        shortest = min(len(ids) for ids in encoded)
        shared = 0
        while shared < shortest and len({ids[shared] for ids in encoded}) == 1:
            shared += 1
        if shared == shortest:
            return cls(ids=None)
        firsts = tuple(ids[shared] for ids in encoded)
        if len(set(firsts)) < 3:
            return cls(ids=None)
        lead = tokenizer.decode(encoded[0][:shared]).strip() or "Safety:"
        return cls(ids=firsts, lead=lead)

    def candidates(self, logits: Tensor) -> Tensor:
        """Probabilities over the three candidates, ``[rows, 3]``, from ``[rows, vocab]``."""
        assert self.ids is not None
        return torch.softmax(logits[:, list(self.ids)].float(), dim=-1)

    def pick(
        self,
        tokenizer: PreTrainedTokenizerBase,
        token_ids: Sequence[int],
        hits: Sequence[tuple[int, Sequence[float]]],
    ) -> SeverityScores | None:
        """The scores of the first hit ``(step, probabilities)`` that follows the lead."""
        for step, probabilities in hits:
            before = tokenizer.decode(list(token_ids[:step]), skip_special_tokens=True)
            if before.rstrip().lower().endswith(self.lead.lower()):
                return SeverityScores(*(float(p) for p in probabilities))
        return None
