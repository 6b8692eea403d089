"""Store values (plain dataclasses) as response bodies."""

from __future__ import annotations

from api.schemas import JobLinks, JobPublic, ResultItem, SeverityScoresOut, SpanOut
from guardq.store.jobs import ItemResult, JobProgress


def job_path(job_id) -> str:
    return f"/v1/jobs/{job_id}"


def job_public(job: JobProgress) -> JobPublic:
    return JobPublic(
        id=job.id,
        mode=job.mode,
        priority=job.priority,
        status=job.status,
        total=job.total,
        done=job.done,
        failed=job.failed,
        queued=job.total - job.done - job.failed,
        model=job.model_id,
        callback_url=job.callback_url,
        alert_url=job.alert_url,
        retain_text=job.retain_text,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
        links=JobLinks(self=job_path(job.id), results=f"{job_path(job.id)}/results"),
    )


def result_item(row: ItemResult) -> ResultItem:
    verdict = row.verdict
    item = dict(
        index=row.index,
        ref=row.ref,
        content_sha256=row.content_sha256,
        metadata=row.metadata,
        status=row.status,
        error=row.error,
    )
    if verdict is None:
        return ResultItem(**item)
    scores, span = verdict.scores, verdict.span
    return ResultItem(
        **{**item, "error": row.error or verdict.error},
        severity=verdict.severity,
        categories=[category.value for category in verdict.categories],
        refusal=verdict.refusal,
        action=verdict.action,
        reason=verdict.reason,
        scores=(
            SeverityScoresOut(
                safe=scores.safe, controversial=scores.controversial, unsafe=scores.unsafe
            )
            if scores
            else None
        ),
        span=SpanOut(start=span.start, end=span.end) if span else None,
        model=verdict.model_id,
        served_from_cache=verdict.served_from_cache,
        latency_ms=verdict.latency_ms,
        list_hits=verdict.list_hits,
    )
