import pytest

from guardq.aggregate import aggregate
from guardq.verdict import Category, Severity, SeverityScores, Span, Verdict


def chunk(severity, categories=(), start=0, end=10, refusal=None, error=None, scores=None):
    return Verdict(
        severity=severity,
        categories=tuple(categories),
        refusal=refusal,
        span=Span(start, end),
        error=error,
        scores=scores,
    )


def test_worst_chunk_decides_and_its_span_and_scores_are_kept():
    scores = SeverityScores(safe=0.1, controversial=0.2, unsafe=0.7)
    item = aggregate(
        [
            chunk(Severity.SAFE, start=0, end=100),
            chunk(Severity.CONTROVERSIAL, [Category.POLITICAL], 80, 180),
            chunk(Severity.UNSAFE, [Category.VIOLENT], 160, 260, scores=scores),
            chunk(Severity.UNSAFE, [Category.PII], 240, 300),
        ]
    )
    assert item.severity is Severity.UNSAFE
    assert item.span == Span(160, 260)
    assert item.scores == scores
    assert item.categories == (Category.VIOLENT, Category.PII, Category.POLITICAL)
    assert len(item.chunks) == 4


def test_single_chunk_is_its_own_verdict():
    item = aggregate([chunk(Severity.SAFE)])
    assert item.severity is Severity.SAFE
    assert item.span == Span(0, 10)


def test_unparsed_chunk_makes_item_unparsed_unless_already_unsafe():
    bad = chunk(None, start=50, end=90, error="no Safety line")
    item = aggregate([chunk(Severity.SAFE), bad])
    assert item.severity is None
    assert item.span == Span(50, 90)
    assert item.error == "chunk 1 of 2: no Safety line"

    decided = aggregate([bad, chunk(Severity.UNSAFE, [Category.VIOLENT], 0, 40)])
    assert decided.severity is Severity.UNSAFE
    assert decided.span == Span(0, 40)


def test_refusal_only_when_every_chunk_refuses():
    assert aggregate([chunk(Severity.SAFE, refusal=True)] * 2).refusal is True
    mixed = [chunk(Severity.SAFE, refusal=True), chunk(Severity.SAFE, refusal=False)]
    assert aggregate(mixed).refusal is False
    assert aggregate([chunk(Severity.SAFE)]).refusal is None


def test_no_chunks_is_an_error():
    with pytest.raises(ValueError, match="at least one chunk"):
        aggregate([])
