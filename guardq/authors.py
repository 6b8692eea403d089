"""Authors: strikes in a sliding window, and holds, computed from the store.

An item may carry its producer's user id (``author``). guardq keeps only
HMAC-SHA256(``GUARDQ_AUTHOR_SECRET``, author), so the store can count an author's verdicts
without holding anything that names them; while a secret is being rotated, the hash
under ``GUARDQ_AUTHOR_SECRET_PREVIOUS`` is kept beside it and both are counted.

A strike is a verdict of severity Unsafe (and Controversial, if the policy says so) on
one of the author's items. When ``unsafe_strikes`` strikes fall within ``window``, the
author is on hold for ``hold`` from the last of them; further strikes extend it. An
admin's lift ends the hold and clears the strikes before it. Nothing is kept in a
worker's memory: ``hold_state`` is a function of the strikes' times, the last lift and
``now`` (an injectable clock), so a restart changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from guardq.verdict import Severity

MAX_AUTHOR_CHARS = 256


class AuthorPolicy(BaseModel):
    """``"authors": {"unsafe_strikes": 3, "window": "P1D", "hold": "PT24H"}`` in the policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unsafe_strikes: int = Field(ge=1, le=10_000)
    # ISO 8601 durations (or seconds).
    window: timedelta
    hold: timedelta
    # Count Controversial verdicts as strikes too.
    count_controversial: StrictBool = False
    # What a held author's items get: blocked, or sent to human review.
    on_hold: Literal["block", "review"] = "block"

    @field_validator("window", "hold")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. P1D or PT24H")
        return value

    @property
    def strike_severities(self) -> tuple[Severity, ...]:
        if self.count_controversial:
            return (Severity.UNSAFE, Severity.CONTROVERSIAL)
        return (Severity.UNSAFE,)

    @property
    def lookback(self) -> timedelta:
        """How far back a strike can still matter to a hold in force."""
        return self.window + self.hold


def author_hash(secret: str, author: str) -> str:
    """Hex HMAC-SHA256 of ``author`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), author.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class HoldState:
    """An author's standing at ``now``: strikes within the window, and the hold if any."""

    strikes: int
    on_hold: bool
    held_since: datetime | None = None
    hold_until: datetime | None = None
    lifted_at: datetime | None = None


def hold_state(
    strikes: Sequence[datetime],
    policy: AuthorPolicy,
    *,
    now: datetime,
    lifted_at: datetime | None = None,
) -> HoldState:
    """The standing given the author's strike times (any order) and the last lift."""
    times = sorted(t for t in strikes if t <= now and (lifted_at is None or t > lifted_at))
    in_window = sum(1 for t in times if t > now - policy.window)
    n = policy.unsafe_strikes
    since = until = None
    for k in range(n - 1, len(times)):
        if times[k] - times[k - n + 1] > policy.window:
            continue
        if until is not None and times[k] <= until:
            until = max(until, times[k] + policy.hold)
        else:
            since, until = times[k], times[k] + policy.hold
    on_hold = until is not None and until > now
    return HoldState(
        strikes=in_window,
        on_hold=on_hold,
        held_since=since if on_hold else None,
        hold_until=until if on_hold else None,
        lifted_at=lifted_at,
    )
