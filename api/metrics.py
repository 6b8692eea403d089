"""Prometheus metrics, computed at scrape time from the audit store and the broker.

Nothing is counted in the API process: every replica reports the same figures, they
survive restarts, and they include work submitted by other producers (the CLI, bulk
loaders). Each scrape runs a few aggregate queries and one LLEN per queue key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis import Redis
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from guardq.queue import QUEUES
from guardq.store.db import session_scope
from guardq.store.models import Escalation, Item, Job, VerdictRecord
from guardq.store.review_stats import overdue_count

log = logging.getLogger(__name__)

# Seconds; the realtime path aims at the low ones, bulk chunks at the high ones.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# kombu's Redis transport keeps a queue's prioritised messages in extra lists named
# queue + "\x06\x16" + step (kombu.transport.redis.PRIORITY_STEPS, the first is the bare name).
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def item_counts(*, session: Session) -> dict[str, int]:
    """Items over all jobs: done, failed, and still queued."""
    total, done, failed = session.execute(
        select(
            func.coalesce(func.sum(Job.total), 0),
            func.coalesce(func.sum(Job.done), 0),
            func.coalesce(func.sum(Job.failed), 0),
        )
    ).one()
    return {"done": done, "failed": failed, "queued": total - done - failed}


def jobs_by_status(*, session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status.value: count for status, count in rows}


def verdicts_by_severity(*, session: Session) -> dict[tuple[str, str], int]:
    """Verdict counts per (severity, action); an unparsed verdict counts as "unparsed"."""
    rows = session.execute(
        select(VerdictRecord.severity, VerdictRecord.action, func.count()).group_by(
            VerdictRecord.severity, VerdictRecord.action
        )
    )
    return {
        (severity.value if severity else "unparsed", action.value): count
        for severity, action, count in rows
    }


def escalations_by_status(*, session: Session) -> dict[str, int]:
    rows = session.execute(select(Escalation.status, func.count()).group_by(Escalation.status))
    return {status.value: count for status, count in rows}


def _histogram(session: Session, seconds, *where) -> tuple[list[tuple[str, int]], float]:
    columns = [
        func.coalesce(func.sum(case((seconds <= bound, 1), else_=0)), 0)
        for bound in LATENCY_BUCKETS
    ]
    query = select(*columns, func.count(seconds), func.coalesce(func.sum(seconds), 0))
    *cumulative, count, total = session.execute(query.where(*where)).one()
    buckets = [(str(bound), int(n)) for bound, n in zip(LATENCY_BUCKETS, cumulative, strict=True)]
    buckets.append(("+Inf", int(count)))
    return buckets, float(total)


def verdict_latency(*, session: Session) -> tuple[list[tuple[str, int]], float]:
    """Histogram of the time the worker spent producing each verdict (engine or cache)."""
    return _histogram(session, VerdictRecord.latency_ms / 1000.0)


def _seconds_between(session: Session, later, earlier):
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86_400.0
    return func.extract("epoch", later - earlier)


def item_latency(*, session: Session) -> tuple[list[tuple[str, int]], float]:
    """Histogram of submission-to-verdict time per item: queue wait included."""
    seconds = _seconds_between(session, VerdictRecord.created_at, Item.created_at)
    return _histogram(session, seconds, VerdictRecord.item_id == Item.id)


def queue_keys(queue: str | None = None) -> list[str]:
    """The Redis lists holding the messages of ``queue`` (default: of every guardq queue)."""
    queues = QUEUES if queue is None else (queue,)
    return [
        key
        for name in queues
        for key in (name, *(f"{name}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS))
    ]


def queue_depths(redis: Redis) -> dict[str, int]:
    """Messages waiting in each Celery queue (all its priority lists)."""
    keys = queue_keys()
    with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.llen(key)
        lengths = dict(zip(keys, pipe.execute(), strict=True))
    return {queue: sum(lengths[key] for key in queue_keys(queue)) for queue in QUEUES}


class GuardqCollector(Collector):
    """Reads the store and the broker at each scrape; a part that is down reports up=0."""

    def __init__(self, session_factory: sessionmaker[Session], redis: Redis | None) -> None:
        self._factory = session_factory
        self._redis = redis

    def collect(self) -> Iterator[Metric]:
        yield from self._store_metrics()
        yield from self._broker_metrics()

    def _store_metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("guardq_store_up", "1 when the audit store answered this scrape")
        try:
            with session_scope(self._factory) as session:
                items = item_counts(session=session)
                jobs = jobs_by_status(session=session)
                verdicts = verdicts_by_severity(session=session)
                escalations = escalations_by_status(session=session)
                overdue = overdue_count(session=session)
                worker_latency = verdict_latency(session=session)
                end_to_end = item_latency(session=session)
        except Exception as exc:  # a scrape must answer even when the store is down
            log.warning("metrics: the audit store did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield CounterMetricFamily(
            "guardq_items_done", "Items with a recorded verdict", value=items["done"]
        )
        yield CounterMetricFamily(
            "guardq_items_failed", "Items the workers could not moderate", value=items["failed"]
        )
        yield GaugeMetricFamily(
            "guardq_items_queued", "Items submitted and not yet judged", value=items["queued"]
        )
        family = GaugeMetricFamily("guardq_jobs", "Jobs by status", labels=["status"])
        for status, count in sorted(jobs.items()):
            family.add_metric([status], count)
        yield family
        family = CounterMetricFamily(
            "guardq_verdicts",
            "Verdicts by severity and policy action",
            labels=["severity", "action"],
        )
        for (severity, action), count in sorted(verdicts.items()):
            family.add_metric([severity, action], count)
        yield family
        family = GaugeMetricFamily("guardq_escalations", "Escalations by status", labels=["status"])
        for status, count in sorted(escalations.items()):
            family.add_metric([status], count)
        yield family
        yield GaugeMetricFamily(
            "guardq_reviews_overdue",
            "Escalations still undecided past their review deadline",
            value=overdue,
        )
        buckets, total = worker_latency
        yield HistogramMetricFamily(
            "guardq_verdict_latency_seconds",
            "Worker time per verdict: the engine call (or cache lookup) that produced it",
            buckets=buckets,
            sum_value=total,
        )
        buckets, total = end_to_end
        yield HistogramMetricFamily(
            "guardq_item_latency_seconds",
            "Submission to recorded verdict per item, queue wait included",
            buckets=buckets,
            sum_value=total,
        )

    def _broker_metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("guardq_broker_up", "1 when the Redis broker answered this scrape")
        try:
            depths = queue_depths(self._redis) if self._redis is not None else None
        except Exception as exc:  # as above: report the broker down, keep the scrape
            log.warning("metrics: the broker did not answer: %s", type(exc).__name__)
            depths = None
        up.add_metric([], 0 if depths is None else 1)
        yield up
        if depths is None:
            return
        family = GaugeMetricFamily(
            "guardq_queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
        )
        for queue, depth in depths.items():
            family.add_metric([queue], depth)
        yield family
