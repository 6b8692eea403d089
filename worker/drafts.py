"""Drafts for verified decoding: what most often followed the same answer tokens.

A guard model's answers come from a small set (``Safety: Safe\\nCategories: None`` and
a few dozen others), so once a row has written ``Safety: Safe``, the way earlier
answers that began the same way went on is a good guess. ``worker.decode`` feeds the
guess after the row's next token and keeps the longest part that greedy decoding
itself would have written (the model's argmax at each fed position), so the output is
the same token for token; a good guess only saves forward passes. A decode step on a
few rows costs about the same for one token as for nine (it is weight reads and
operator overhead), so an answer from the usual set takes two or three passes instead
of eight.

At each token the guess takes the one that most often came next, not the last answer's:
answers branch (at the severity word, at each category of a list), and the last answer
at a branch is often the rare way, which voids the rest of the guess.

Guesses that keep failing (a model whose answers are not from a small set: the random
weights the benchmarks use) cost compute on every step; ``Drafts`` stops guessing when
fewer than a fifth of its recent guessed tokens were kept, and tries again now and
then. A stricter bar stops too soon: a guess of eight tokens of which three are kept
still saves three passes. With half as the bar, the demo model's answers to the
benchmark texts (``benchmarks/inputs.py``), which list categories in many orders, kept
guessing switched off, and a single answer took 10-11 passes instead of 4
(``benchmarks/drafts.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

# Tokens guessed per row and step, and answer prefixes remembered (a bound, not a need).
MAX_DRAFT = 8
_MEMORY = 4096
# Acceptance, as a decaying average of kept / guessed tokens, below which guessing stops;
# and how many steps without guessing before one more try.
_MIN_RATE = 0.2
_DECAY = 0.9
_RETRY_STEPS = 64


class Drafts:
    """Continuations of earlier answers, by the tokens written so far (one per mode)."""

    def __init__(self) -> None:
        # Per answer prefix, how often each token followed it, and the most frequent.
        self._counts: dict[tuple[int, ...], dict[int, int]] = {}
        self._best: dict[tuple[int, ...], int] = {}
        self._rate = 1.0
        self._idle = 0

    def learn(self, answer: Sequence[int]) -> None:
        """Remember a finished answer (its tokens, the end token included)."""
        if len(self._counts) > _MEMORY:
            self._counts.clear()
            self._best.clear()
        answer = tuple(answer)
        for cut in range(len(answer)):
            prefix, token = answer[:cut], answer[cut]
            counts = self._counts.setdefault(prefix, {})
            counts[token] = counts.get(token, 0) + 1
            best = self._best.get(prefix)
            if best is None or counts[token] > counts[best]:
                self._best[prefix] = token

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
        """Up to ``limit`` tokens that most often followed ``written``, one after the
        other, in earlier answers."""
        prefix, guess = tuple(written), []
        while len(guess) < limit:
            token = self._best.get(prefix)
            if token is None:
                break
            guess.append(token)
            prefix += (token,)
        return tuple(guess)

    def record(self, guessed: int, kept: int) -> None:
        """How many guessed tokens a step fed, and how many of them were kept."""
        if guessed:
            self._rate = _DECAY * self._rate + (1 - _DECAY) * (kept / guessed)
