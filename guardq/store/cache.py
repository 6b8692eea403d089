"""The verdict cache: content already judged by a model, in a mode, is not inferred again.

Keyed by (content hash, model id, mode). The policy is not part of the key: a cached
verdict is the model's judgement, and the deployment's policy decides on it afresh.
The model id must name the weights exactly (pin a revision: ``Qwen/Qwen3Guard-Gen-4B@<sha>``)
for a cached verdict to stay that model's answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from guardq.store.dialects import insert_ignoring_duplicates, insert_ignoring_many
from guardq.store.models import VerdictCacheEntry, utcnow
from guardq.verdict import Category, Mode, SeverityScores, Span, Verdict

# Hashes per SELECT ... IN (...): far below any backend's bound-parameter limit.
_LOOKUP_BATCH = 1000


@dataclass(frozen=True)
class CachedVerdict:
    """A verdict served from the cache; its chunk verdicts are not kept, only their count."""

    verdict: Verdict
    chunk_count: int


def get_cached_verdicts(
    *, session: Session, hashes: Iterable[str], model_id: str, mode: Mode
) -> dict[str, CachedVerdict]:
    """The cached verdicts among ``hashes``, by hash; a miss is simply absent."""
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, CachedVerdict] = {}
    if not wanted:
        return found
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        parameters = {
            "model_id": model_id,
            "mode": mode,
            "hashes": wanted[start : start + _LOOKUP_BATCH],
        }
        for entry in session.execute(_LOOKUP, parameters):
            found[entry.content_sha256] = _cached(entry)
    return found


# Rows of the table, not ORM objects, and a statement built once (its hash list an
# expanding parameter): a lookup runs for every job submitted.
_table = VerdictCacheEntry.__table__
_LOOKUP = select(_table).where(
    _table.c.model_id == bindparam("model_id"),
    _table.c.mode == bindparam("mode"),
    _table.c.content_sha256.in_(bindparam("hashes", expanding=True)),
)


def put_cached_verdicts(
    *, session: Session, model_id: str, entries: Iterable[tuple[Mode, str, Verdict]]
) -> None:
    """Cache each ``(mode, content hash, verdict)``.

    An unparsed output is not cached: it says nothing about the content, and a later
    run (another batch, another revision) deserves its own chance to answer. An entry
    that exists already stands. The rows go in key order, so two batches filling the
    same keys cannot deadlock.
    """
    rows = {}
    for mode, sha256, verdict in entries:
        if verdict.parsed:
            rows.setdefault((sha256, mode.value), _entry_values(sha256, model_id, mode, verdict))
    insert_ignoring_many(
        session,
        VerdictCacheEntry,
        [rows[key] for key in sorted(rows)],
        conflict=("content_sha256", "model_id", "mode"),
    )


def put_cached_verdict(
    *,
    session: Session,
    content_sha256: str,
    model_id: str,
    mode: Mode,
    verdict: Verdict,
    chunk_count: int | None = None,
) -> bool:
    """Cache one verdict (``put_cached_verdicts``); False when it is unparsed or an
    entry already exists."""
    if not verdict.parsed:
        return False
    values = _entry_values(content_sha256, model_id, mode, verdict, chunk_count)
    key = ("content_sha256", "model_id", "mode")
    return insert_ignoring_duplicates(session, VerdictCacheEntry, values, *key)


def _entry_values(
    sha256: str, model_id: str, mode: Mode, verdict: Verdict, chunk_count: int | None = None
) -> dict:
    scores, span = verdict.scores, verdict.span
    return dict(
        content_sha256=sha256,
        model_id=model_id,
        mode=mode,
        severity=verdict.severity,
        categories=[category.value for category in verdict.categories],
        refusal=verdict.refusal,
        prob_safe=scores.safe if scores else None,
        prob_controversial=scores.controversial if scores else None,
        prob_unsafe=scores.unsafe if scores else None,
        chunk_count=chunk_count if chunk_count is not None else max(1, len(verdict.chunks)),
        span_start=span.start if span else None,
        span_end=span.end if span else None,
        created_at=utcnow(),
    )


def _cached(entry) -> CachedVerdict:
    probabilities = (entry.prob_safe, entry.prob_controversial, entry.prob_unsafe)
    verdict = Verdict(
        severity=entry.severity,
        categories=tuple(Category(name) for name in entry.categories),
        refusal=entry.refusal,
        scores=SeverityScores(*probabilities) if None not in probabilities else None,
        span=Span(entry.span_start, entry.span_end) if entry.span_start is not None else None,
    )
    return CachedVerdict(verdict=verdict, chunk_count=entry.chunk_count)
