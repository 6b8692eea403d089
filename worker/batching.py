"""Packing units into batches under a token budget, padding included.

A batch is a few groups of rows of similar length. Its linear layers run on all its
rows at once (the more rows, the better a CPU or GPU matmul does); attention and the KV
cache of each group are padded to that group's longest row only. A group closes when
one more row would make its padding exceed ``slack`` of its tokens; a batch closes when
one more row would take its padded size, ``sum over groups of rows x (longest row +
max_new_tokens)``, past the budget. Rows are taken shortest first.
"""

from __future__ import annotations

from collections.abc import Sequence


def batch_cost(groups: Sequence[Sequence[int]], max_new_tokens: int) -> int:
    """Tokens a batch holds, padding included, for groups of rows with these lengths."""
    return sum(len(group) * (max(group) + max_new_tokens) for group in groups if group)


def pack(
    lengths: Sequence[int], *, budget: int, max_new_tokens: int, slack: float = 0.2
) -> list[list[list[int]]]:
    """Indices into ``lengths``, as batches of groups, each batch costing at most
    ``budget``. A row that alone exceeds the budget gets a batch of its own (it must
    run somehow; the budget bounds batching, not item size)."""
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    batches: list[list[list[int]]] = []
    groups: list[list[int]] = []
    group: list[int] = []
    closed = 0  # padded size of the batch's closed groups
    for index in order:
        need = lengths[index] + max_new_tokens
        # Ascending order: the row being added is the longest of its group so far.
        tokens = sum(lengths[i] + max_new_tokens for i in group) + need
        if group and (len(group) + 1) * need > (1 + slack) * tokens:
            groups.append(group)
            closed += len(group) * (lengths[group[-1]] + max_new_tokens)
            group = []
        if (groups or group) and closed + (len(group) + 1) * need > budget:
            batches.append([*groups, group] if group else groups)
            groups, group, closed = [], [], 0
        group.append(index)
    if group:
        groups.append(group)
    if groups:
        batches.append(groups)
    return batches


def waves(
    batches: list[list[list[int]]], lengths: Sequence[int], *, max_new_tokens: int, limit: int
) -> list[list[list[list[int]]]]:
    """Consecutive batches grouped into waves that decode together, each holding at most
    ``limit`` tokens of cache (a wave of one batch may hold more)."""
    result: list[list[list[list[int]]]] = []
    held = 0
    for batch in batches:
        cost = batch_cost([[lengths[i] for i in group] for group in batch], max_new_tokens)
        if not result or held + cost > limit:
            result.append([])
            held = 0
        result[-1].append(batch)
        held += cost
    return result
