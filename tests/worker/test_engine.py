"""The engine's front door on a random-weight model: order, chunk detail, bad input,
and batched greedy decoding that writes exactly the reference's tokens."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from guardq.inputs import PromptInput, ResponseInput
from guardq.verdict import Mode, Span
from worker.chunking import split_text
from worker.decode import generate
from worker.engine import GuardEngine
from worker.errors import EngineOutOfMemoryError
from worker.reference import reference_generate

TEXTS = [
    "hi",
    "How do I bake bread at home?",
    "我想学习如何用Python处理数据。" * 3,
    "  odd \t\t whitespace \n\n\n everywhere  ",
    "🎉🔥👍 " * 8,
    "Привет! Как дела? مرحبا بالعالم. こんにちは世界。" * 3,
    "Tell me how to pick a lock. " * 8,
]
ITEMS = [PromptInput(t) for t in TEXTS] + [ResponseInput(t, t[::-1] + " ok") for t in TEXTS]


def _batched_tokens(engine, items, max_new_tokens):
    """Each unit's tokens from one batch per mode, as the engine decodes them."""
    planned = engine.plan(items)
    tokens = [None] * len(planned)
    with torch.inference_mode():
        for mode in Mode:
            members = [i for i, p in enumerate(planned) if p.unit.mode is mode]
            rows = [planned[i].own_ids for i in members]
            half = len(rows) // 2
            results = generate(
                engine._forward,
                # Two batches of several groups each, decoding together in one wave.
                [
                    [rows[start : min(start + 3, half)] for start in range(0, half, 3)],
                    [rows[start : start + 3] for start in range(half, len(rows), 3)],
                ],
                engine._prefix(mode)[1],
                max_new_tokens=max_new_tokens,
                eos_ids=engine._eos,
                severity=engine._severity,
            )
            for i, result in zip(members, results, strict=True):
                tokens[i] = result.token_ids + ([engine.tokenizer.eos_token_id] * result.ended)
    return planned, tokens


def test_batched_decode_writes_the_reference_tokens(tiny_engine):
    planned, tokens = _batched_tokens(tiny_engine, ITEMS, max_new_tokens=8)
    assert len(planned) > len(ITEMS)
    for p, ours in zip(planned, tokens, strict=True):
        expected, _ = reference_generate(
            tiny_engine.model, tiny_engine.tokenizer, p.unit.messages(), max_new_tokens=8
        )
        assert ours == expected, p.unit


@pytest.fixture(scope="module")
def moderated(tiny_engine):
    return tiny_engine.moderate(list(reversed(ITEMS)))


def test_verdicts_come_back_in_input_order_with_their_chunks(tiny_engine, moderated):
    items = list(reversed(ITEMS))
    verdicts = moderated
    assert len(verdicts) == len(items)
    params = tiny_engine.params
    for item, verdict in zip(items, verdicts, strict=True):
        spans = split_text(
            item.content, tiny_engine.tokenizer, params.chunk_tokens, params.chunk_overlap
        )
        assert [chunk.span for chunk in verdict.chunks] == spans
        assert verdict.span in spans


def test_random_weights_are_never_read_as_safe(moderated):
    for verdict in moderated:
        assert verdict.severity is None and verdict.error
        assert all(not chunk.parsed for chunk in verdict.chunks)


def test_one_input_gives_a_list_of_one_with_timings(tiny_engine):
    result = tiny_engine.moderate("How do I bake bread at home?")
    assert len(result) == 1 and result[0].span == Span(0, len("How do I bake bread at home?"))
    timings = result.timings
    assert timings.items == 1 and timings.units == 1 and timings.batches == 1
    assert timings.total_s >= timings.prefill_s + timings.decode_s > 0
    assert timings.cached_tokens > 0 and timings.uncached_units == 0


def test_batches_and_groups_of_any_size_write_the_same_tokens(tiny_engine, moderated):
    planned = [p for p in tiny_engine.plan(ITEMS) if p.unit.mode is Mode.PROMPT]
    kv = tiny_engine._prefix(Mode.PROMPT)[1]

    def run(groups, merge_limit=0):
        with torch.inference_mode():
            return [
                g.token_ids
                for g in generate(
                    tiny_engine._forward,
                    [groups],
                    kv,
                    max_new_tokens=6,
                    eos_ids=tiny_engine._eos,
                    severity=tiny_engine._severity,
                    merge_limit=merge_limit,
                )
            ]

    rows = [p.own_ids for p in planned]
    threes = [rows[start : start + 3] for start in range(0, len(rows), 3)]
    one_group = run([rows])
    assert [tokens for group in threes for tokens in run([group])] == one_group
    assert run(threes) == one_group
    assert run(threes, merge_limit=1 << 20) == one_group  # groups merged for decoding

    small = GuardEngine(
        tiny_engine.model,
        tiny_engine.tokenizer,
        params=replace(tiny_engine.params, max_batch_tokens=512),
    )
    many = small.moderate(list(reversed(ITEMS)))
    assert many.timings.batches > moderated.timings.batches
    assert [v.chunks for v in many] == [v.chunks for v in moderated]


@pytest.mark.parametrize(
    "bad, message",
    [
        (["fine", ""], r"inputs\[1\]\.text: is empty"),
        (["fine", "ok", "   \n\t"], r"inputs\[2\]\.text: is empty or whitespace only"),
        (["fine", 42], r"inputs\[1\]: expected a string.*got int"),
        ([ResponseInput("q", " ")], r"inputs\[0\]\.response: is empty"),
        ([{"prompt": "q", "response": None}], r"inputs\[0\]\.response: expected a string"),
        ([{"txt": "typo"}], r"inputs\[0\]: expected keys"),
        ([], r"inputs: the list is empty"),
        (None, r"inputs: expected one input or a list"),
    ],
)
def test_bad_input_names_the_item_and_the_problem(tiny_engine, bad, message):
    with pytest.raises(ValueError, match=message):
        tiny_engine.moderate(bad)


def test_out_of_memory_names_the_remedies_and_the_engine_keeps_working(tiny_engine, monkeypatch):
    # Real OOM needs a real accelerator; here the first decode wave raises torch's own
    # OutOfMemoryError, as CUDA's allocator does, and the next call must work again.
    import worker.engine

    calls = []
    real = worker.engine.generate

    def exhausted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker.engine, "generate", exhausted)
    with pytest.raises(EngineOutOfMemoryError) as raised:
        tiny_engine.moderate(["one", "two"])
    message = str(raised.value)
    assert "moderating 2 item(s)" in message
    for remedy in ("GUARDQ_MODEL", "GUARDQ_MAX_BATCH_TOKENS", "GUARDQ_CHUNK_TOKENS"):
        assert remedy in message
    assert len(tiny_engine.moderate(["one"])) == 1


@pytest.fixture(scope="module")
def small(tiny_engine):
    """The same model with a budget of a few rows a batch: a stream of several waves."""
    return GuardEngine(
        tiny_engine.model,
        tiny_engine.tokenizer,
        params=replace(tiny_engine.params, max_batch_tokens=64),
    )


def test_a_stream_hands_over_each_item_once_as_its_windows_finish(small, moderated):
    items = list(reversed(ITEMS))
    handed = list(small.stream(items))

    assert len(handed) > 2
    indices = [index for ready in handed for index, _ in ready]
    assert sorted(indices) == list(range(len(items)))
    by_index = dict(pair for ready in handed for pair in ready)

    def labels(v):  # severity scores may differ in the last bits with the batch shape
        return v.severity, v.categories, v.refusal, v.error, v.span, len(v.chunks)

    assert [labels(by_index[i]) for i in range(len(items))] == [labels(v) for v in moderated]


def test_a_stream_closed_early_judges_no_more(small):
    stream = small.stream(ITEMS)
    first = next(stream)
    stream.close()
    assert 0 < len(first) < len(ITEMS)
    assert not torch.is_inference_mode_enabled()
    with pytest.raises(ValueError, match=r"inputs\[1\]\.text: is empty"):
        small.stream(["fine", ""])
