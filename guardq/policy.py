"""Policy: what a deployment does with a verdict (allow, review or block).

Severity gives the base action: Safe allows, Unsafe blocks, Controversial follows the
deployment's choice (``review`` by default; ``strict`` counts it as Unsafe and
``loose`` as Safe, as the official evaluation's two modes do). Per-category overrides
replace the base action for the categories they name. An unparsed verdict is never
allowed (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardq.authors import AuthorPolicy
from guardq.verdict import Category, Severity, Verdict


class Action(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return list(Action).index(self)


@dataclass(frozen=True)
class Decision:
    """The action on a verdict and why; ``sampled``: blocked, and reviewed as a sample."""

    action: Action
    reason: str
    sampled: bool = False

    @property
    def escalates(self) -> bool:
        """Whether a human reviewer gets the item."""
        return self.action is Action.REVIEW or self.sampled


_CONTROVERSIAL = {"review": Action.REVIEW, "strict": Action.BLOCK, "loose": Action.ALLOW}


class Policy(BaseModel):
    """A deployment's policy; built from ``GUARDQ_POLICY`` (JSON) and validated there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    controversial: Literal["review", "strict", "loose"] = "review"
    unparsed: Literal["review", "block"] = "review"
    categories: dict[Category, Action] = {}
    # The share (0 to 1) of blocked Unsafe items also sent to review.
    unsafe_review_sample: float = Field(default=0.0, ge=0.0, le=1.0)
    # Strikes and holds per author (guardq.authors); None: authors are not tracked.
    authors: AuthorPolicy | None = None

    @field_validator("categories", mode="before")
    @classmethod
    def _known_categories(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        known = {}
        for name, action in value.items():
            try:
                category = name if isinstance(name, Category) else Category.from_label(name)
            except ValueError:
                allowed = ", ".join(c.value for c in Category)
                raise ValueError(
                    f"policy.categories: unknown category {name!r}; expected one of: {allowed}"
                ) from None
            known[category] = action
        return known

    def decide(self, verdict: Verdict, content_sha256: str | None = None) -> Decision:
        """The action for ``verdict`` and why, in words a reviewer can read.

        ``content_sha256`` (hex) draws the Unsafe review sample; without it none is drawn.
        """
        decision = self._decide(verdict)
        if (
            decision.action is Action.BLOCK
            and verdict.severity is Severity.UNSAFE
            and content_sha256 is not None
            and in_sample(content_sha256, self.unsafe_review_sample)
        ):
            reason = f"{decision.reason}; blocked, and sampled for review"
            return Decision(Action.BLOCK, reason, sampled=True)
        return decision

    def _decide(self, verdict: Verdict) -> Decision:
        if not verdict.parsed:
            return Decision(Action(self.unparsed), f"unparsed model output: {verdict.error}")
        base = {
            Severity.SAFE: Action.ALLOW,
            Severity.CONTROVERSIAL: _CONTROVERSIAL[self.controversial],
            Severity.UNSAFE: Action.BLOCK,
        }[verdict.severity]
        if verdict.severity is Severity.SAFE or not verdict.categories:
            return Decision(base, f"severity {verdict.severity.value}")

        # Each category present contributes its override, or the base action when it
        # has none; the strictest contribution wins.
        contributions = [
            (self.categories.get(category, base), category) for category in verdict.categories
        ]
        action, category = max(contributions, key=lambda pair: pair[0].rank)
        if category in self.categories:
            reason = f"severity {verdict.severity.value}, policy for {category.value}"
        else:
            reason = f"severity {verdict.severity.value}"
        return Decision(action, reason)


def in_sample(content_sha256: str, rate: float) -> bool:
    """Whether content falls in a ``rate`` share, decided by its hash alone.

    The first 64 bits of a SHA-256 are uniform, so their fraction of 2**64 is a fair,
    repeatable draw.
    """
    if rate <= 0:
        return False
    try:
        draw = int(content_sha256[:16], 16) / 2**64
    except ValueError:
        raise ValueError(f"content_sha256: expected hex, got {content_sha256[:16]!r}") from None
    return draw < rate
