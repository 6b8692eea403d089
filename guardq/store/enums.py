"""The store's own vocabularies: the states of jobs, items, escalations and keys.

Severity, Category and Mode live in guardq.verdict and Action in guardq.policy; these
are the ones only the store and its callers need. A reviewer's decision is a Severity:
reviewers answer in the model's own terms, so decisions double as training labels.
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


class KeyRole(StrEnum):
    PRODUCER = "producer"
    REVIEWER = "reviewer"
    # A reviewer who also settles disputes: escalations whose independent decisions
    # disagreed (consensus review) wait for a lead (or an admin).
    LEAD = "lead"
    ADMIN = "admin"
