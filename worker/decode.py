"""Greedy decoding of a wave of batches: prefill, then one step at a time until every
row ends.

A row ends at an end-of-answer token or after ``max_new_tokens``; rows that end leave
the batch, so later steps (and their vocabulary projections) only pay for the rows
still writing. Greedy argmax over the full logits, exactly as ``generate(do_sample=
False)`` picks tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from worker.forward import Forward
from worker.kv import BatchState, PrefixKV
from worker.severity import SeverityTokens


@dataclass
class Generation:
    """What one row wrote: its tokens (end-of-answer excluded), whether it ended by
    itself, and the candidate probabilities at each step that emitted a candidate."""

    token_ids: list[int] = field(default_factory=list)
    ended: bool = False
    hits: list[tuple[int, list[float]]] = field(default_factory=list)


@dataclass
class BatchTimes:
    prefill_s: float = 0.0
    decode_s: float = 0.0
    steps: int = 0


def generate(
    forward: Forward,
    batches: list[list[list[list[int]]]],
    prefix: PrefixKV | None,
    *,
    max_new_tokens: int,
    eos_ids: frozenset[int],
    severity: SeverityTokens,
    ignore_eos: bool = False,
    merge_limit: int = 0,
    times: BatchTimes | None = None,
) -> list[Generation]:
    """Greedy-decode every row of ``batches`` (each a list of groups, each a list of
    rows of own token ids after ``prefix``); generations come back in row order, all
    flattened.

    Each batch is prefilled on its own (its size bounds the prefill's memory); then all
    rows decode together, so that a batch of a few long rows does not decode alone (a
    decode step costs nearly the same for 2 rows as for 40: it reads every weight once).
    Groups are merged for decoding when their padded cache holds at most
    ``merge_limit`` tokens."""
    times = times if times is not None else BatchTimes()
    started = time.perf_counter()
    parts, state = [], BatchState(groups=[], prefix=prefix)
    for groups in batches:
        logits, prefilled = forward.prefill(groups, prefix, decode_columns=max_new_tokens - 1)
        parts.append(logits)
        state.groups.extend(prefilled.groups)
    logits = torch.cat(parts) if len(parts) > 1 else parts[0]
    state.merge(max_new_tokens - 1, merge_limit)
    times.prefill_s += time.perf_counter() - started
    started = time.perf_counter()

    eos = torch.tensor(sorted(eos_ids), device=logits.device, dtype=torch.long)
    candidates = torch.tensor(severity.ids or (), device=logits.device, dtype=torch.long)
    results = [Generation() for groups in batches for group in groups for _ in group]
    active = list(range(len(results)))
    for step in range(max_new_tokens):
        if ignore_eos:
            # As generate(min_new_tokens=N) does: the end token can never be chosen.
            logits[:, eos] = -torch.inf
        chosen = logits.argmax(-1)
        if severity.ids is not None:
            hit = torch.isin(chosen, candidates)
            if bool(hit.any()):
                where = hit.nonzero().flatten()
                probabilities = severity.candidates(logits[where]).tolist()
                for local, probs in zip(where.tolist(), probabilities, strict=True):
                    results[active[local]].hits.append((step, probs))

        keep = []
        for local, token in enumerate(chosen.tolist()):
            generation = results[active[local]]
            if token in eos_ids and not ignore_eos:
                generation.ended = True
            else:
                generation.token_ids.append(token)
                keep.append(local)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(active):
            state.keep(keep)
            chosen = chosen.index_select(0, torch.tensor(keep, device=logits.device))
            active = [active[local] for local in keep]
        logits = forward.decode(chosen, state)
        times.steps += 1
    times.decode_s += time.perf_counter() - started
    return results
