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

from pydantic import BaseModel, ConfigDict, field_validator

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
    action: Action
    reason: str


_CONTROVERSIAL = {"review": Action.REVIEW, "strict": Action.BLOCK, "loose": Action.ALLOW}


class Policy(BaseModel):
    """A deployment's policy; built from ``GUARDQ_POLICY`` (JSON) and validated there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    controversial: Literal["review", "strict", "loose"] = "review"
    unparsed: Literal["review", "block"] = "review"
    categories: dict[Category, Action] = {}

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

    def decide(self, verdict: Verdict) -> Decision:
        """The action for ``verdict`` and why, in words a reviewer can read."""
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
