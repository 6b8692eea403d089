"""KV caches: the shared header's, and each length group's of a running batch.

A batch is a few groups of rows of similar length. Every linear layer runs on all rows
of the batch at once (its matmuls get as many rows as possible); attention runs per
group, padded only to the group's longest row, so padding stays small without making
the matmuls small.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class PrefixKV:
    """The header's keys and values, per layer ``(k, v)`` each ``[kv_heads, P, D]``."""

    length: int
    layers: list[tuple[Tensor, Tensor]]


@dataclass
class GroupKV:
    """The cache of one group of rows.

    Per layer ``k``/``v`` are ``[rows, kv_heads, width + decode_columns, D]``: columns
    ``[0, width)`` hold each row's prompt tokens (padded to ``width``), then the tokens
    fed by decode steps, the same columns for every row (a drafted token a row did not
    keep stays masked). ``bias`` is ``[rows, 1, 1, 1,
    columns]``: 0 where a decode query may look, -inf at padding and unwritten steps.
    ``positions`` are the rows' next position ids.
    """

    k: list[Tensor]
    v: list[Tensor]
    bias: Tensor
    positions: Tensor
    width: int

    @property
    def rows(self) -> int:
        return self.positions.shape[0]

    def keep(self, rows: Tensor) -> None:
        """Keep only ``rows`` (local indices); finished rows stop costing anything."""
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]
        self.bias = self.bias.index_select(0, rows)
        self.positions = self.positions.index_select(0, rows)


@dataclass
class BatchState:
    """The groups of a batch still decoding, in row order, and the decode step."""

    groups: list[GroupKV]
    prefix: PrefixKV | None
    step: int = 0

    @property
    def rows(self) -> int:
        return sum(group.rows for group in self.groups)

    def merge(self, decode_columns: int, limit: int) -> None:
        """Make the groups one, padded to the longest row, if that holds at most
        ``limit`` tokens of cache: decode steps then run one attention per layer
        instead of one per group (decode attention is cheap; its calls are not)."""
        if len(self.groups) < 2 or self.step:
            return
        width = max(group.width for group in self.groups)
        columns = width + decode_columns
        if self.rows * columns > limit:
            return
        first = self.groups[0]
        shape = (self.rows, first.k[0].shape[1], columns, first.k[0].shape[3])
        k = [torch.zeros(shape, dtype=t.dtype, device=t.device) for t in first.k]
        v = [torch.zeros(shape, dtype=t.dtype, device=t.device) for t in first.v]
        bias = torch.full((self.rows, 1, 1, 1, columns), -torch.inf, device=first.bias.device)
        start = 0
        for group in self.groups:
            rows = slice(start, start + group.rows)
            start = rows.stop
            for merged, own in zip(k + v, group.k + group.v, strict=True):
                merged[rows, :, : group.width] = own[:, :, : group.width]
            bias[rows, ..., : group.width] = group.bias[..., : group.width]
        positions = torch.cat([group.positions for group in self.groups])
        self.groups = [GroupKV(k=k, v=v, bias=bias, positions=positions, width=width)]

    def advance(self, fed: int, kept: list[int]) -> None:
        """After a step that fed ``fed`` tokens to every row: row ``i`` keeps the first
        ``kept[i]`` of them (its next token and the drafts it accepted); the rest of
        its columns are masked again and its position moves on by ``kept[i]``."""
        start = 0
        for group in self.groups:
            counts = kept[start : start + group.rows]
            start += group.rows
            column = group.width + self.step
            for local, count in enumerate(counts):
                if count < fed:
                    group.bias[local, ..., column + count : column + fed] = -torch.inf
            group.positions = group.positions + torch.tensor(counts, device=group.positions.device)
        self.step += fed

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (indices over all groups, ascending); drop empty groups."""
        kept, start, wanted = [], 0, iter(rows)
        row = next(wanted, None)
        for group in self.groups:
            end = start + group.rows
            local = []
            while row is not None and row < end:
                local.append(row - start)
                row = next(wanted, None)
            if len(local) == group.rows:
                kept.append(group)
            elif local:
                group.keep(torch.tensor(local, device=group.positions.device))
                kept.append(group)
            start = end
        self.groups = kept
