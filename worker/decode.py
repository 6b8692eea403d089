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

from worker.drafts import MAX_DRAFT, Drafts
from worker.forward import Forward
from worker.kv import BatchState, PrefixKV
from worker.severity import SeverityTokens

# Rows a drafting step may hold (a bigger batch is bound by compute, which drafts cost),
# and the spare cache columns drafts may use beyond max_new_tokens.
DRAFT_ROWS = 64
DRAFT_COLUMNS = 2 * MAX_DRAFT


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
    drafts: Drafts | None = None,
) -> list[Generation]:
    """Greedy-decode every row of ``batches`` (each a list of groups, each a list of
    rows of own token ids after ``prefix``); generations come back in row order, all
    flattened.

    Each batch is prefilled on its own (its size bounds the prefill's memory); then all
    rows decode together, so that a batch of a few long rows does not decode alone (a
    decode step costs nearly the same for 2 rows as for 40: it reads every weight once).
    Groups are merged for decoding when their padded cache holds at most
    ``merge_limit`` tokens.

    With ``drafts`` (``worker.drafts``), a step on at most ``DRAFT_ROWS`` rows also
    feeds each row's guess of its following tokens and keeps what greedy decoding
    would have written; the tokens are the same, the steps fewer."""
    times = times if times is not None else BatchTimes()
    if ignore_eos:
        drafts = None  # benchmarks decode a fixed length: keep their step count honest
    spare = DRAFT_COLUMNS if drafts is not None else 0
    columns = max_new_tokens - 1 + spare
    started = time.perf_counter()
    parts, state = [], BatchState(groups=[], prefix=prefix)
    for groups in batches:
        logits, prefilled = forward.prefill(groups, prefix, decode_columns=columns)
        parts.append(logits)
        state.groups.extend(prefilled.groups)
    logits = torch.cat(parts) if len(parts) > 1 else parts[0]
    logits = logits[:, None]  # [rows, 1, vocab]: one position per row
    state.merge(columns, merge_limit)
    times.prefill_s += time.perf_counter() - started
    started = time.perf_counter()

    eos = torch.tensor(sorted(eos_ids), device=logits.device, dtype=torch.long)
    candidates = torch.tensor(severity.ids or (), device=logits.device, dtype=torch.long)
    results = [Generation() for groups in batches for group in groups for _ in group]
    active = list(range(len(results)))
    fed: list[list[int]] = [[] for _ in active]  # each row's drafted tokens this step
    decoded = False  # the first logits are the prefill's: no decode columns fed yet
    while True:
        if ignore_eos:
            # As generate(min_new_tokens=N) does: the end token can never be chosen.
            logits[..., eos] = -torch.inf
        chosen = logits.argmax(-1)  # [rows, L]
        if severity.ids is not None:
            hit = torch.isin(chosen, candidates)
            if bool(hit.any()):
                where = hit.nonzero()
                probabilities = severity.candidates(logits[where[:, 0], where[:, 1]]).tolist()
                found = dict(zip(map(tuple, where.tolist()), probabilities, strict=True))
            else:
                found = {}
        keep, kept, nexts = [], [], []
        guessed = accepted = 0
        for local, row_tokens in enumerate(chosen.tolist()):
            generation = results[active[local]]
            draft = fed[local]
            guessed += len(draft)
            used = 0
            for position, token in enumerate(row_tokens):
                used = position + 1
                if severity.ids is not None and (local, position) in found:
                    generation.hits.append((len(generation.token_ids), found[local, position]))
                if token in eos_ids and not ignore_eos:
                    generation.ended = True
                    if drafts is not None:
                        drafts.learn([*generation.token_ids, token])
                    break
                generation.token_ids.append(token)
                if len(generation.token_ids) >= max_new_tokens:
                    break
                if position == len(draft) or token != draft[position]:
                    break  # the model wrote something else: the rest of the draft is void
            accepted += used - 1
            kept.append(used)
            if not generation.ended and len(generation.token_ids) < max_new_tokens:
                keep.append(local)
                nexts.append(generation.token_ids[-1])
        if drafts is not None:
            drafts.record(guessed, accepted)
        if not keep:
            break
        if decoded:
            state.advance(chosen.shape[1], kept)
        if len(keep) < len(active):
            state.keep(keep)
            active = [active[local] for local in keep]
        fed = [[] for _ in active]
        # Drafts take only spare columns: every later step must still find one column
        # for each token a row may yet write, should no draft be kept.
        slack = (
            columns - state.step - (max_new_tokens - min(len(results[r].token_ids) for r in active))
        )
        if drafts is not None and len(active) <= DRAFT_ROWS and slack > 0 and drafts.active():
            for local, row in enumerate(active):
                written = results[row].token_ids
                limit = min(MAX_DRAFT, slack, max_new_tokens - len(written))
                fed[local] = list(drafts.propose(written, limit))
        width = 1 + max(len(draft) for draft in fed)
        # Rows with shorter drafts are padded; what a row did not draft it never keeps.
        rows = [
            [nxt, *draft] + [nxt] * (width - 1 - len(draft))
            for nxt, draft in zip(nexts, fed, strict=True)
        ]
        tokens = torch.tensor(rows, device=logits.device)
        logits = forward.decode(tokens, state)
        decoded = True
        times.steps += 1
    times.decode_s += time.perf_counter() - started
    return results
