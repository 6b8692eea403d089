"""Policy: what a deployment does with a verdict (allow, review or block).

Severity gives the base action: Safe allows, Unsafe blocks, Controversial follows the
deployment's choice (``review`` by default; ``strict`` counts it as Unsafe and
``loose`` as Safe, as the official evaluation's two modes do). Per-category overrides
replace the base action for the categories they name. An unparsed verdict is never
allowed (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardq.authors import AuthorPolicy
from guardq.reasons import screening_kind
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
    """The action on a verdict and why; ``sampled``: blocked, and reviewed as a sample.

    For an escalated item, ``decisions`` is how many independent reviewer decisions must
    agree, and ``due_in`` how soon a reviewer should decide it (None: no deadline).
    """

    action: Action
    reason: str
    sampled: bool = False
    decisions: int = 1
    due_in: timedelta | None = None

    @property
    def escalates(self) -> bool:
        """Whether a human reviewer gets the item."""
        return self.action is Action.REVIEW or self.sampled


_CONTROVERSIAL = {"review": Action.REVIEW, "strict": Action.BLOCK, "loose": Action.ALLOW}

# Why an item went to review, as the deadlines name it. "block_list" and "author_hold"
# are for escalations opened by a block list or an author hold, where a deployment has
# them; any other policy review counts as "controversial".
ReasonKind = Literal["controversial", "sampled", "unparsed", "block_list", "author_hold"]
REASON_KINDS: tuple[ReasonKind, ...] = (
    "controversial",
    "sampled",
    "unparsed",
    "block_list",
    "author_hold",
)
# Hours to a decision, by reason: the riskiest (unparsed output could be anything, an
# author on hold is waiting) first.
_DEFAULT_DUE_S = {
    "controversial": 24 * 3600,
    "sampled": 72 * 3600,
    "unparsed": 4 * 3600,
    "block_list": 12 * 3600,
    "author_hold": 1 * 3600,
}
MAX_DECISIONS = 5


def reason_kind(reason: str, sampled: bool = False) -> ReasonKind:
    """The deadline's name for an escalation's reason (the ``Decision.reason`` words).

    A blocked item drawn for the review sample is "sampled" whatever blocked it (the
    review audits the block); else a block list's or an author hold's reason is named by
    its start (``guardq.reasons``, the words ``guardq.screening`` writes)."""
    if sampled or reason.endswith("sampled for review"):
        return "sampled"
    screened = screening_kind(reason)
    if screened is not None:
        return screened
    if reason.startswith("unparsed"):
        return "unparsed"
    return "controversial"


class ReviewPolicy(BaseModel):
    """How escalated items are reviewed: consensus and deadlines.

    ``decisions``: independent reviewer decisions that must agree before an item is
    settled (1: the first decision settles it); ``by_category`` / ``by_severity`` raise
    it for items the model found in a category or judged a severity ("unparsed" for
    output that did not parse); the largest number that applies wins. ``due_s``: seconds
    from escalation to the deadline, by reason (``REASON_KINDS``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    decisions: int = Field(default=1, ge=1, le=MAX_DECISIONS)
    by_category: dict[Category, Annotated[int, Field(ge=1, le=MAX_DECISIONS)]] = {}
    by_severity: dict[
        Literal["Controversial", "Unsafe", "unparsed"],
        Annotated[int, Field(ge=1, le=MAX_DECISIONS)],
    ] = {}
    due_s: dict[ReasonKind, Annotated[int, Field(ge=1)]] = {}

    @field_validator("by_category", mode="before")
    @classmethod
    def _known_categories(cls, value: object) -> object:
        return _categories(value, "policy.review.by_category")

    def required(self, verdict: Verdict) -> int:
        """How many agreeing decisions an escalated ``verdict`` needs."""
        severity = verdict.severity.value if verdict.severity else "unparsed"
        counts = [self.decisions, self.by_severity.get(severity, 1)]
        counts += [self.by_category.get(category, 1) for category in verdict.categories]
        return max(counts)

    def due_in(self, kind: ReasonKind) -> timedelta:
        return timedelta(seconds=self.due_s.get(kind, _DEFAULT_DUE_S[kind]))


def _categories(value: object, field: str) -> object:
    if not isinstance(value, dict):
        return value
    known = {}
    for name, setting in value.items():
        try:
            category = name if isinstance(name, Category) else Category.from_label(name)
        except ValueError:
            allowed = ", ".join(c.value for c in Category)
            raise ValueError(
                f"{field}: unknown category {name!r}; expected one of: {allowed}"
            ) from None
        known[category] = setting
    return known


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
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)

    @field_validator("categories", mode="before")
    @classmethod
    def _known_categories(cls, value: object) -> object:
        return _categories(value, "policy.categories")

    def decide(self, verdict: Verdict, content_sha256: str | None = None) -> Decision:
        """The action for ``verdict`` and why, in words a reviewer can read.

        ``content_sha256`` (hex) draws the Unsafe review sample; without it none is drawn.
        An escalated item's decision also says how many reviewers must agree on it and
        when it is due (``review``).
        """
        decision = self._decide(verdict)
        if (
            decision.action is Action.BLOCK
            and verdict.severity is Severity.UNSAFE
            and content_sha256 is not None
            and in_sample(content_sha256, self.unsafe_review_sample)
        ):
            reason = f"{decision.reason}; blocked, and sampled for review"
            decision = Decision(Action.BLOCK, reason, sampled=True)
        return self.review_terms(decision, verdict)

    def review_terms(self, decision: Decision, verdict: Verdict) -> Decision:
        """``decision`` with its review terms (agreeing decisions needed, deadline by
        reason) when it escalates; ``decide`` applies them, and so does a decision that a
        term list or an author hold (``guardq.screening``) made on top of it."""
        if not decision.escalates:
            return decision
        return replace(
            decision,
            decisions=self.review.required(verdict),
            due_in=self.review.due_in(reason_kind(decision.reason, decision.sampled)),
        )

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
