"""Severity scores: read at the step that writes the severity word, over three words."""

from __future__ import annotations

import pytest
import torch

from guardq.verdict import SeverityScores
from worker.severity import SeverityTokens


def test_the_three_words_have_distinct_first_tokens(tokenizer):
    tokens = SeverityTokens.find(tokenizer)
    assert tokens.ids is not None and len(set(tokens.ids)) == 3
    assert tokens.lead == "Safety:"


def test_probabilities_are_a_softmax_over_the_three_candidates(tokenizer):
    tokens = SeverityTokens.find(tokenizer)
    logits = torch.zeros(1, len(tokenizer))
    logits[0, list(tokens.ids)] = torch.tensor([2.0, 0.0, 1.0])
    logits[0, 0] = 50.0  # a token outside the candidates does not count
    probs = tokens.candidates(logits)[0]
    assert probs.tolist() == pytest.approx(torch.softmax(torch.tensor([2.0, 0.0, 1.0]), 0).tolist())


def test_only_a_candidate_after_the_lead_is_the_severity_step(tokenizer):
    tokens = SeverityTokens.find(tokenizer)
    answer = tokenizer("Safety: Unsafe\nCategories: None", add_special_tokens=False)["input_ids"]
    step = answer.index(tokens.ids[2])
    early = (0, [0.9, 0.05, 0.05])  # a candidate token before "Safety:" is ignored
    scores = tokens.pick(tokenizer, answer, [early, (step, [0.1, 0.2, 0.7])])
    assert scores == SeverityScores(0.1, 0.2, 0.7)
    assert tokens.pick(tokenizer, answer, [early]) is None
