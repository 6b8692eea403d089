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


class ListKind(StrEnum):
    """A block list blocks on a hit; an allow list allows."""

    BLOCK = "block"
    ALLOW = "allow"


class ListScope(StrEnum):
    """Which jobs a list applies to: every job, or the jobs that name it."""

    DEPLOYMENT = "deployment"
    JOB = "job"


class EntryKind(StrEnum):
    """A phrase (matched whole, at word boundaries) or a regular expression."""

    PHRASE = "phrase"
    REGEX = "regex"


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
