"""What ``GuardEngine.moderate`` returns: the verdicts, in input order, and timings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from guardq.verdict import Verdict


@dataclass(frozen=True)
class Timings:
    """Where one ``moderate`` call spent its time, and how much work it did.

    ``plan_s`` covers validation, chunking, rendering and tokenizing; ``prefill_s`` and
    ``decode_s`` the model; ``finish_s`` detokenizing, parsing and aggregating.
    Token counts: ``own_tokens`` are the units' tokens after the cached header (the
    whole rendering for a unit that could not use the cache), ``cached_tokens`` the
    header tokens that were not recomputed, ``generated_tokens`` the decoded ones.
    """

    total_s: float
    plan_s: float
    prefill_s: float
    decode_s: float
    finish_s: float
    items: int
    units: int
    batches: int
    decode_steps: int
    own_tokens: int
    cached_tokens: int
    generated_tokens: int
    uncached_units: int

    @property
    def items_per_s(self) -> float:
        return self.items / self.total_s if self.total_s > 0 else 0.0


class Moderation(list[Verdict]):
    """A list of verdicts, one per input in input order, with ``timings`` attached.

    Each verdict is the item's aggregate; ``verdict.chunks`` holds one verdict per
    window of the content (one for content that fits a window), each with its
    character ``span`` and its severity ``scores``.
    """

    def __init__(self, verdicts: Iterable[Verdict], timings: Timings) -> None:
        super().__init__(verdicts)
        self.timings = timings
