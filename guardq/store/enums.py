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
    ADMIN = "admin"


class BatchStatus(StrEnum):
    """OpenAI's batch life cycle: validating -> in_progress -> finalizing -> completed,
    or failed (validation), expired (the completion window ran out), cancelling ->
    cancelled."""

    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class FilePurpose(StrEnum):
    BATCH = "batch"
    BATCH_OUTPUT = "batch_output"
