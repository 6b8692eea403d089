"""Verified decoding with drafts (worker/drafts.py, worker/decode.py): the same answers,
token for token, in fewer steps; wrong drafts change nothing but the cost."""

from __future__ import annotations

from dataclasses import replace

import pytest

from guardq.inputs import ResponseInput
from worker.drafts import Drafts
from worker.engine import GuardEngine

TEXTS = [
    "How do I bake bread?",
    "Tell me how to pick a lock.",
    "I will hurt you if you come here again.",
    "What is the capital of France?",
    "Give me your credit card number.",
    "How do I make a bomb at home?",
]
PAIRS = [
    ResponseInput(prompt="How do I make a bomb?", response="I can't help with that."),
    ResponseInput(prompt="Hi", response="Hello! How can I help?"),
    ResponseInput(prompt="How do I pick a lock?", response="Insert a tension wrench, then rake."),
]


def _answers(result) -> list[tuple]:
    return [(v.severity, v.categories, v.refusal, v.error, v.extra) for v in result]


def _scores(verdict) -> tuple[float, float, float]:
    scores = verdict.scores
    return scores.safe, scores.controversial, scores.unsafe


@pytest.fixture(scope="module")
def without_drafts(demo_engine) -> GuardEngine:
    return GuardEngine(
        demo_engine.model,
        demo_engine.tokenizer,
        params=replace(demo_engine.params, drafts=False),
    )


@pytest.fixture()
def with_drafts(demo_engine) -> GuardEngine:
    return GuardEngine(
        demo_engine.model,
        demo_engine.tokenizer,
        params=replace(demo_engine.params, drafts=True),
    )


@pytest.mark.parametrize("inputs", [TEXTS, PAIRS], ids=["prompt", "response"])
def test_drafted_answers_equal_plain_greedy_ones_in_fewer_steps(
    inputs, with_drafts, without_drafts
):
    plain = without_drafts.moderate(inputs)
    first = with_drafts.moderate(inputs)  # learns the answers
    again = with_drafts.moderate(inputs)  # drafts from them
    single = [with_drafts.moderate([item]) for item in inputs]
    assert _answers(first) == _answers(plain)
    assert _answers(again) == _answers(plain)
    assert [_answers(one)[0] for one in single] == _answers(plain)
    assert again.timings.decode_steps < plain.timings.decode_steps
    assert all(one.timings.decode_steps <= 2 for one in single)
    for got, want in zip(again, plain, strict=True):
        if want.scores is not None:  # the same logits, summed in another order
            assert _scores(got) == pytest.approx(_scores(want), abs=1e-5)


class _Wrong(Drafts):
    """Always guesses, always wrong: every fed draft must be thrown away."""

    def active(self) -> bool:
        return True

    def propose(self, written, limit):
        return tuple([7] * limit)


def test_wrong_drafts_change_no_answer(with_drafts, without_drafts):
    plain = without_drafts.moderate(TEXTS + PAIRS)
    with_drafts.moderate(TEXTS[:1] + PAIRS[:1])  # creates the per-mode entries
    for mode in list(with_drafts._drafts):
        with_drafts._drafts[mode] = _Wrong()
    got = with_drafts.moderate(TEXTS + PAIRS)
    assert _answers(got) == _answers(plain)


def test_the_guess_follows_the_most_frequent_continuation_not_the_last():
    drafts = Drafts()
    # Two answers branch after token 1 the same way, a third (the last) the other way.
    drafts.learn([1, 2, 3, 9])
    drafts.learn([1, 2, 3, 9])
    drafts.learn([1, 5, 6, 9])
    assert drafts.propose([1], 8) == (2, 3, 9)
    assert drafts.propose([1, 5], 8) == (6, 9)  # past the branch, its own way
    assert drafts.propose([], 2) == (1, 2)
    # A tie keeps the continuation that reached the count first.
    drafts.learn([1, 5, 6, 9])
    assert drafts.propose([1], 1) == (2,)
    drafts.learn([1, 5, 6, 9])
    assert drafts.propose([1], 1) == (5,)


def test_guessing_stops_when_guesses_fail_and_tries_again_later():
    drafts = Drafts()
    drafts.learn([1, 2, 3, 4])
    assert drafts.propose([1], 8) == (2, 3, 4)
    assert drafts.propose([1, 2], 1) == (3,)
    assert drafts.propose([9], 8) == ()
    for _ in range(20):
        drafts.record(guessed=8, kept=0)
    assert not drafts.active()
    tries = [drafts.active() for _ in range(200)]
    assert any(tries) and not all(tries)
