"""The domain values of a moderation: mode, severity, category, verdict.

These are the Qwen3Guard-Gen facts the rest of guardq relies on (DESIGN.md); the
category strings are the official ones, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Mode(StrEnum):
    """What is moderated: the user's prompt, or the assistant's response to it."""

    PROMPT = "prompt"
    RESPONSE = "response"


class Severity(StrEnum):
    """Ordered Safe < Controversial < Unsafe, so ``max()`` finds the worst.

    All four comparisons are defined here: the ones inherited from ``str`` would
    order the labels alphabetically.
    """

    SAFE = "Safe"
    CONTROVERSIAL = "Controversial"
    UNSAFE = "Unsafe"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Severity) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Severity) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Severity) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Severity) else NotImplemented

    @classmethod
    def from_label(cls, label: str) -> Severity:
        """The severity named by ``label`` (case and surrounding space ignored)."""
        wanted = label.strip().lower()
        for severity in cls:
            if severity.value.lower() == wanted:
                return severity
        raise ValueError(
            f"unknown severity {label!r}: expected one of {', '.join(s.value for s in cls)}"
        )


_SEVERITY_RANK = {Severity.SAFE: 0, Severity.CONTROVERSIAL: 1, Severity.UNSAFE: 2}


class Category(StrEnum):
    """The official Qwen3Guard categories, declared in the model's own order."""

    VIOLENT = "Violent"
    NON_VIOLENT_ILLEGAL = "Non-violent Illegal Acts"
    SEXUAL = "Sexual Content or Sexual Acts"
    PII = "PII"
    SELF_HARM = "Suicide & Self-Harm"
    UNETHICAL = "Unethical Acts"
    POLITICAL = "Politically Sensitive Topics"
    COPYRIGHT = "Copyright Violation"
    JAILBREAK = "Jailbreak"  # prompt moderation only

    @property
    def order(self) -> int:
        return _CATEGORY_ORDER[self]

    @classmethod
    def from_label(cls, label: str) -> Category:
        """The category whose official string equals ``label`` exactly (case ignored).

        Whole-string equality, never a substring search: "violent" must not match
        "Non-violent Illegal Acts".
        """
        wanted = label.strip().lower()
        for category in cls:
            if category.value.lower() == wanted:
                return category
        raise ValueError(f"unknown category {label!r}")


_CATEGORY_ORDER = {category: index for index, category in enumerate(Category)}


def sorted_categories(categories) -> tuple[Category, ...]:
    """Deduplicated, in the official order: one stable spelling of a category set."""
    return tuple(sorted(set(categories), key=lambda c: c.order))


@dataclass(frozen=True)
class Span:
    """Character offsets ``[start, end)`` into the moderated content."""

    start: int
    end: int


@dataclass(frozen=True)
class SeverityScores:
    """Probabilities of the three severity words where the model emitted one."""

    safe: float
    controversial: float
    unsafe: float

    def of(self, severity: Severity) -> float:
        return getattr(self, severity.name.lower())


@dataclass(frozen=True)
class Verdict:
    """The model's judgement of one piece of content (a whole item or one chunk).

    ``severity`` is None when the model output did not parse: such a verdict is never
    read as Safe, the policy escalates it (fail closed), and ``error`` says why.
    """

    severity: Severity | None
    categories: tuple[Category, ...] = ()
    refusal: bool | None = None
    scores: SeverityScores | None = None
    span: Span | None = None
    chunks: tuple[Verdict, ...] = ()
    error: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def parsed(self) -> bool:
        return self.severity is not None
