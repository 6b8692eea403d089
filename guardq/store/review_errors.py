"""Why a reviewer's action on an escalation was refused (the API maps them to 404/409)."""

from __future__ import annotations

import uuid
from datetime import datetime

from guardq.verdict import Severity


class ReviewError(Exception):
    """A refused review action; the message says why in words a reviewer can act on."""


class ReviewNotFound(ReviewError, LookupError):
    def __init__(self, escalation_id: uuid.UUID) -> None:
        super().__init__(f"escalation {escalation_id} not found")
        self.escalation_id = escalation_id


class ReviewClosed(ReviewError):
    """The escalation is already resolved: nothing more to claim, decide or release."""

    def __init__(
        self,
        escalation_id: uuid.UUID,
        decision: Severity | None,
        decided_by_name: str | None,
        decided_at: datetime | None,
    ) -> None:
        who = f" by {decided_by_name}" if decided_by_name else ""
        when = f" at {decided_at.isoformat()}" if decided_at else ""
        what = decision.value if decision else "decided"
        super().__init__(f"escalation {escalation_id} is already resolved ({what}{who}{when})")
        self.escalation_id = escalation_id
        self.decision = decision


class ReviewConflict(ReviewError):
    """Another reviewer holds the escalation, or the caller does not (any more).

    ``holder_key_id``/``holder_name``/``lease_expires_at`` name the current holder, when
    there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        holder_key_id: uuid.UUID | None = None,
        holder_name: str | None = None,
        lease_expires_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.holder_key_id = holder_key_id
        self.holder_name = holder_name
        self.lease_expires_at = lease_expires_at
