"""Chunk aggregation: one item verdict from the verdicts of its token windows."""

from __future__ import annotations

from collections.abc import Sequence

from guardq.verdict import Severity, Verdict, sorted_categories


def aggregate(chunks: Sequence[Verdict]) -> Verdict:
    """The item's verdict is its worst chunk's.

    - severity: the worst over the chunks; the first chunk that has it decides, and its
      span and scores are kept for reviewers.
    - categories: the union over all chunks, in the official order.
    - refusal: Yes only when every chunk that answers it says Yes (a response that
      complies anywhere is not a refusal).
    - an unparsed chunk makes the item unparsed (fail closed) unless another chunk is
      already Unsafe, which no unread chunk could make any better.
    """
    if not chunks:
        raise ValueError("aggregate() needs at least one chunk verdict")
    parsed = [chunk for chunk in chunks if chunk.parsed]
    unparsed = [chunk for chunk in chunks if not chunk.parsed]
    worst = max((chunk.severity for chunk in parsed), default=None)
    categories = sorted_categories(c for chunk in parsed for c in chunk.categories)
    answers = [chunk.refusal for chunk in parsed if chunk.refusal is not None]
    refusal = all(answers) if answers else None

    if unparsed and worst is not Severity.UNSAFE:
        first = unparsed[0]
        index = chunks.index(first)
        return Verdict(
            severity=None,
            categories=categories,
            refusal=refusal,
            span=first.span,
            chunks=tuple(chunks),
            error=f"chunk {index} of {len(chunks)}: {first.error}",
        )

    deciding = next(chunk for chunk in parsed if chunk.severity is worst)
    return Verdict(
        severity=worst,
        categories=categories,
        refusal=refusal,
        scores=deciding.scores,
        span=deciding.span,
        chunks=tuple(chunks),
        extra=deciding.extra,
    )
