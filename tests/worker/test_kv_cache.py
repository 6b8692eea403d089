"""Batch KV state: dropping finished rows across groups, merging groups for decode."""

from __future__ import annotations

import torch

from worker.kv import BatchState, GroupKV


def _group(first_row: int, rows: int, width: int, columns: int) -> GroupKV:
    # Every cache entry holds its global row number, so moves are easy to follow.
    k = torch.arange(first_row, first_row + rows, dtype=torch.float32)
    k = k.view(rows, 1, 1, 1).expand(rows, 2, columns, 4).clone()
    lengths = torch.tensor([width - i % 2 for i in range(rows)])
    bias = torch.zeros(rows, 1, 1, 1, columns)
    bias.masked_fill_(~(torch.arange(columns) < lengths[:, None])[:, None, None, None], -torch.inf)
    return GroupKV(k=[k], v=[k.clone()], bias=bias, positions=10 + lengths, width=width)


def test_keep_drops_rows_across_groups_and_empty_groups():
    state = BatchState(
        groups=[_group(0, 3, 5, 8), _group(3, 2, 7, 10), _group(5, 2, 9, 12)], prefix=None
    )
    state.keep([1, 2, 5])
    assert [g.rows for g in state.groups] == [2, 1]
    assert state.groups[0].k[0][:, 0, 0, 0].tolist() == [1.0, 2.0]
    assert state.groups[1].k[0][:, 0, 0, 0].tolist() == [5.0]


def test_merge_pads_each_group_to_the_longest_and_keeps_masks():
    groups = [_group(0, 2, 5, 8), _group(2, 2, 7, 10)]
    state = BatchState(groups=groups, prefix=None)
    state.merge(decode_columns=3, limit=1000)
    (merged,) = state.groups
    assert merged.width == 7 and merged.k[0].shape == (4, 2, 10, 4)
    assert merged.k[0][:, 0, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    # Prompt columns keep their mask; padding and the decode columns start hidden.
    visible = (merged.bias[:, 0, 0, 0] == 0).sum(-1).tolist()
    assert visible == [5, 4, 7, 6]
    assert torch.equal(merged.positions, torch.cat([g.positions for g in groups]))


def test_merge_stays_within_the_limit():
    state = BatchState(groups=[_group(0, 2, 5, 8), _group(2, 2, 7, 10)], prefix=None)
    state.merge(decode_columns=3, limit=39)
    assert len(state.groups) == 2
