"""Packing: every batch stays under the token budget, padding included."""

from __future__ import annotations

import random

from worker.batching import batch_cost, pack, waves


def _lengths(seed: int) -> list[int]:
    rng = random.Random(seed)
    return [max(3, min(400, round(rng.lognormvariate(4.0, 0.8)))) for _ in range(300)]


def test_batches_respect_the_budget_and_hold_every_row_once():
    lengths = _lengths(0)
    batches = pack(lengths, budget=4096, max_new_tokens=16)
    rows = [i for batch in batches for group in batch for i in group]
    assert sorted(rows) == list(range(len(lengths)))
    for batch in batches:
        assert batch_cost([[lengths[i] for i in g] for g in batch], 16) <= 4096


def test_groups_keep_padding_small():
    lengths = _lengths(1)
    batches = pack(lengths, budget=8192, max_new_tokens=0, slack=0.2)
    groups = [group for batch in batches for group in batch]
    padded = sum(len(g) * max(lengths[i] for i in g) for g in groups)
    assert padded <= 1.2 * sum(lengths)
    ordered = [lengths[i] for group in groups for i in group]
    assert ordered == sorted(ordered)


def test_a_batch_holds_several_groups_so_matmuls_see_many_rows():
    batches = pack([10] * 20 + [100] * 20, budget=100_000, max_new_tokens=8)
    assert len(batches) == 1 and [len(g) for g in batches[0]] == [20, 20]


def test_a_row_over_the_budget_runs_alone():
    batches = pack([10, 5000, 12], budget=1024, max_new_tokens=8)
    flat = [[i for group in batch for i in group] for batch in batches]
    assert [1] in flat and sorted(map(sorted, flat)) == [[0, 2], [1]]


def test_waves_group_consecutive_batches_under_the_limit():
    lengths = _lengths(2)
    batches = pack(lengths, budget=2048, max_new_tokens=8)
    grouped = waves(batches, lengths, max_new_tokens=8, limit=4 * 2048)
    assert [batch for wave in grouped for batch in wave] == batches
    assert len(grouped) < len(batches)
    for wave in grouped:
        costs = [batch_cost([[lengths[i] for i in g] for g in b], 8) for b in wave]
        assert len(wave) == 1 or sum(costs) <= 4 * 2048
