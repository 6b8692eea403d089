"""The store's own vocabularies: the states of jobs, items, escalations and keys.

Severity, Category and Mode live in guardq.verdict and Action in guardq.policy; these
are the ones only the store and its callers need.
"""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    REALTIME = "realtime"
    BULK = "bulk"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ItemStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class EscalationStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class ReviewDecision(StrEnum):
    """What a human reviewer may conclude; "review" is not an answer to a review."""

    ALLOW = "allow"
    BLOCK = "block"


class KeyRole(StrEnum):
    PRODUCER = "producer"
    REVIEWER = "reviewer"
    ADMIN = "admin"
