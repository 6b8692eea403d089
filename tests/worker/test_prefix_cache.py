"""Prefix cache: the ids the model sees are exactly the official rendering's ids."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from guardq.inputs import PromptInput, ResponseInput
from guardq.verdict import Mode
from worker.decode import generate
from worker.engine import GuardEngine
from worker.prefix import Prefix, render_ids

CONTENTS = [
    "hello",
    " leading space",
    "\n\nnewlines first",
    ":colon",
    "USER: nested role",
    "你好，世界",
    "😀 emoji first",
    "\t tab",
    "<|im_end|> special token text",
    "'s contraction",
    "123 digits",
]


def _messages(mode, content):
    if mode is Mode.PROMPT:
        return [{"role": "user", "content": content}]
    return [{"role": "user", "content": content}, {"role": "assistant", "content": "Sure."}]


@pytest.mark.parametrize("mode", list(Mode))
def test_prefix_is_the_header_and_every_rendering_starts_with_it(tokenizer, mode):
    prefix = Prefix.find(tokenizer, mode)
    text = tokenizer.apply_chat_template(_messages(mode, "X"), tokenize=False)
    header = text[: text.index("USER: X") + len("USER: ")]
    decoded = tokenizer.decode(list(prefix.ids))
    # The cached run is the header, short of at most its last few characters (which
    # byte-level BPE may merge with the content's first).
    assert header.startswith(decoded) and len(header) - len(decoded) <= 8
    for content in CONTENTS:
        ids = render_ids(tokenizer, _messages(mode, content))
        assert prefix.matches(ids), content


def test_matches_needs_the_exact_ids_and_something_after_them():
    prefix = Prefix(Mode.PROMPT, (1, 2, 3))
    assert prefix.matches([1, 2, 3, 4])
    assert not prefix.matches([1, 2, 3]) and not prefix.matches([1, 2, 4, 4])


def test_planned_ids_are_the_official_rendering(tiny_engine):
    items = [PromptInput(c) for c in CONTENTS] + [ResponseInput(c, c * 9) for c in CONTENTS]
    planned = tiny_engine.plan(items)
    assert len(planned) > len(items)  # some responses span several windows
    for p in planned:
        assert p.prefix is not None
        assert list(p.prefix.ids) + p.own_ids == render_ids(
            tiny_engine.tokenizer, p.unit.messages()
        )


def test_cached_prefill_gives_the_full_forward_logits(tiny_engine):
    planned = tiny_engine.plan([PromptInput(c) for c in CONTENTS])
    prefix, kv = tiny_engine._prefix(Mode.PROMPT)
    with torch.inference_mode():
        logits, _ = tiny_engine._forward.prefill(
            [[p.own_ids for p in planned]], kv, decode_columns=0
        )
        for row, p in zip(logits, planned, strict=True):
            full = torch.tensor([list(prefix.ids) + p.own_ids])
            expected = tiny_engine.model(full).logits[0, -1]
            torch.testing.assert_close(row, expected, rtol=1e-4, atol=1e-4)


def test_without_the_cache_the_tokens_are_the_same(tiny_engine):
    uncached = GuardEngine(
        tiny_engine.model,
        tiny_engine.tokenizer,
        params=replace(tiny_engine.params, prefix_cache=False),
    )
    items = [PromptInput(c) for c in CONTENTS]
    with torch.inference_mode():
        outputs = []
        for engine in (tiny_engine, uncached):
            planned = engine.plan(items)
            kv = engine._prefix(Mode.PROMPT)[1] if planned[0].prefix else None
            outputs.append(
                generate(
                    engine._forward,
                    [[[p.own_ids for p in planned]]],
                    kv,
                    max_new_tokens=8,
                    eos_ids=engine._eos,
                    severity=engine._severity,
                )
            )
    assert all(p.prefix is None for p in uncached.plan(items))
    assert [g.token_ids for g in outputs[0]] == [g.token_ids for g in outputs[1]]
