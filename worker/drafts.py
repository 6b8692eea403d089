"""Drafts for verified decoding: what followed the same answer tokens last time.

A guard model's answers come from a small set (``Safety: Safe\\nCategories: None`` and
a few dozen others), so once a row has written ``Safety: Safe``, the rest of an earlier
answer that began the same way is a good guess. ``worker.decode`` feeds the guess after
the row's next token and keeps the longest part that greedy decoding itself would have
written (the model's argmax at each fed position), so the output is the same token for
token; a good guess only saves forward passes. A decode step on a few rows costs about
the same for one token as for nine (it is weight reads and operator overhead), so a
single answer takes two or three passes instead of eight.

Guesses that keep failing (a model whose answers are not from a small set: the random
weights the benchmarks use) cost compute on every step; ``Drafts`` stops guessing when
fewer than half of its recent guesses were kept, and tries again now and then.
"""

from __future__ import annotations

from collections.abc import Sequence

# Tokens guessed per row and step, and answer prefixes remembered (a bound, not a need).
MAX_DRAFT = 8
_MEMORY = 4096
# Acceptance, as a decaying average of kept / guessed tokens, below which guessing stops;
# and how many steps without guessing before one more try.
_MIN_RATE = 0.5
_DECAY = 0.9
_RETRY_STEPS = 64


class Drafts:
    """Continuations of earlier answers, by the tokens written so far (one per mode)."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._rate = 1.0
        self._idle = 0

    def learn(self, answer: Sequence[int]) -> None:
        """Remember a finished answer (its tokens, the end token included)."""
        if len(self._next) > _MEMORY:
            self._next.clear()
        answer = tuple(answer)
        for cut in range(1, len(answer)):
            self._next[answer[:cut]] = answer[cut:]

    def active(self) -> bool:
        """Whether to guess this step (recent guesses were mostly kept, or it is time to
        try again)."""
        if self._rate >= _MIN_RATE:
            return True
        self._idle += 1
        if self._idle >= _RETRY_STEPS:
            self._idle, self._rate = 0, _MIN_RATE
            return True
        return False

    def propose(self, written: Sequence[int], limit: int) -> tuple[int, ...]:
        """Up to ``limit`` tokens that followed ``written`` in an earlier answer."""
        return self._next.get(tuple(written), ())[:limit]

    def record(self, guessed: int, kept: int) -> None:
        """How many guessed tokens a step fed, and how many of them were kept."""
        if guessed:
            self._rate = _DECAY * self._rate + (1 - _DECAY) * (kept / guessed)
