"""Chunking: windows cover the content, overlap, and their spans are its characters."""

from __future__ import annotations

import pytest

from guardq.inputs import PromptInput, ResponseInput
from guardq.verdict import Mode
from worker.chunking import plan_units, split_text, tail, windows

LONG = (
    "The museum opens at nine and closes at five. 我想学习如何用Python处理数据。"
    "  \t Привет, как дела? 🎉🎉 مرحبا بالعالم\n\n"
) * 6


@pytest.mark.parametrize("n, size, overlap", [(10, 32, 8), (33, 32, 8), (100, 32, 8), (97, 16, 0)])
def test_windows_cover_every_token_and_overlap(n, size, overlap):
    spans = windows(n, size, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(end - start == min(size, n) for start, end in spans)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end - start >= overlap


def test_spans_are_the_windows_characters(tokenizer):
    spans = split_text(LONG, tokenizer, 32, 8)
    assert len(spans) > 3
    assert spans[0].start == 0 and spans[-1].end == len(LONG)
    for before, after in zip(spans, spans[1:], strict=False):
        assert after.start < before.end  # overlapping windows leave no gap
    for span in spans:
        piece = LONG[span.start : span.end]
        # A window re-tokenized on its own is about as long as the window it came from.
        assert len(tokenizer(piece, add_special_tokens=False)["input_ids"]) <= 32 + 2
        assert piece in LONG


def test_units_keep_item_order_and_chunk_the_response(tokenizer):
    items = [PromptInput("short"), ResponseInput("What did you say?", LONG), PromptInput(LONG)]
    units = plan_units(items, tokenizer, chunk_tokens=32, chunk_overlap=8)
    assert [u.item for u in units] == sorted(u.item for u in units)
    first, *response = [u for u in units if u.item in (0, 1)]
    assert first.content == "short" and len(response) > 3
    for unit in response:
        assert unit.mode is Mode.RESPONSE and unit.prompt == "What did you say?"
        assert unit.content == LONG[unit.span.start : unit.span.end]
        assert unit.messages()[1] == {"role": "assistant", "content": unit.content}
    assert [u.chunk for u in units if u.item == 2] == list(range(len(response)))


def test_a_long_prompt_keeps_its_last_window(tokenizer):
    kept = tail(LONG, tokenizer, 32)
    assert LONG.endswith(kept) and len(kept) < len(LONG)
    assert len(tokenizer(kept, add_special_tokens=False)["input_ids"]) <= 33
    units = plan_units([ResponseInput(LONG, "ok")], tokenizer, chunk_tokens=32, chunk_overlap=8)
    assert [u.prompt for u in units] == [kept]
