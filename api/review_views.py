"""What the reviewer page's templates show of an escalation: plain values, already worded.

The templates only lay these out (and Jinja escapes every string); the decisions about
wording, the highlighted span, ages and the lease state are made here, where they can
be unit-tested without rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guardq.store.enums import EscalationStatus
from guardq.store.escalations import EscalationView
from guardq.verdict import Category, Mode, Severity

# The queue shows this much of each text; the item page shows all of it.
EXCERPT_CHARS = 160
# Keys of the decision buttons (review.js presses the button whose data-key matches).
DECISION_KEYS = (("s", Severity.SAFE), ("c", Severity.CONTROVERSIAL), ("u", Severity.UNSAFE))
# Keys, form values and labels of the refusal radio (response mode). "o" for No because
# "n" already focuses the note; neither collides with s/c/u/r or the number keys.
REFUSAL_CHOICES = (("y", "yes", "Yes"), ("o", "no", "No"))
REFUSAL_VALUES = {"yes": True, "no": False}
# Messages shown after a redirect, chosen by code: the query string never carries text
# into the page.
NOTICES = {
    "decided": "Decision recorded; the item has left the queue.",
    "released": "Released: the item is back in the queue.",
    "logged-out": "Logged out.",
    "empty": "Nothing left to claim with these filters.",
    "bulk-decided": "Decisions recorded for the selected items.",
    "sent": "Sent to the review queue.",
}


def deadline(view: EscalationView, now: datetime) -> str | None:
    """``due in 3 h 05 min`` / ``overdue by 12 min``; None without a deadline."""
    if view.due_at is None or view.status is EscalationStatus.RESOLVED:
        return None
    left = (view.due_at - now).total_seconds()
    return f"due in {duration(left)}" if left > 0 else f"overdue by {duration(-left)}"


def consensus(view: EscalationView) -> str | None:
    """Where a consensus review stands; None for an item one decision settles."""
    if view.disputed and view.status is not EscalationStatus.RESOLVED:
        return f"reviewers disagreed ({view.decisions_made} decisions): a lead settles it"
    if view.decisions_required > 1:
        return f"{view.decisions_made} of {view.decisions_required} agreeing decisions"
    return None


@dataclass(frozen=True)
class MarkedText:
    """``text`` cut around the deciding span: before, the span itself, after."""

    before: str
    marked: str
    after: str
    start: int
    end: int


def marked_text(text: str, start: int | None, end: int | None) -> MarkedText | None:
    """The span ``[start, end)`` of ``text`` to highlight; None when absent or out of range."""
    if start is None or end is None or not 0 <= start < end <= len(text):
        return None
    return MarkedText(text[:start], text[start:end], text[end:], start, end)


def duration(seconds: float) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def clock(seconds: float) -> str:
    """``m:ss``, as the lease countdown shows it."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def category_choices(mode: Mode | None) -> list[tuple[int, Category]]:
    """The categories a reviewer may tick, numbered for the number-key shortcuts."""
    categories = [c for c in Category if mode is not Mode.RESPONSE or c is not Category.JAILBREAK]
    return list(enumerate(categories, start=1))


def _severity(view: EscalationView) -> tuple[str, str]:
    if view.severity is None:
        # Fail closed: output that did not parse is escalated, never read as Safe.
        return "unparsed output", "unparsed"
    return view.severity.value, view.severity.value.lower()


def queue_row(view: EscalationView, now: datetime) -> dict:
    """One line of the queue table."""
    label, css = _severity(view)
    excerpt = None
    if view.text is not None:
        excerpt = view.text[:EXCERPT_CHARS] + ("…" if len(view.text) > EXCERPT_CHARS else "")
    lease_left = view.lease_expires_at and (view.lease_expires_at - now).total_seconds()
    return dict(
        id=view.id,
        age=duration((now - view.created_at).total_seconds()),
        severity_label=label,
        severity_class=css,
        categories=[c.value for c in view.categories],
        reason=view.reason,
        excerpt=excerpt,
        ref=view.item_ref,
        lease_left=clock(lease_left or 0),
        overdue=view.overdue(now),
        deadline=deadline(view, now),
        consensus=consensus(view),
        sha_label=view.content_sha256[:12],
    )


def _yes_no(value: bool | None, yes: str = "Yes", no: str = "No") -> str | None:
    return None if value is None else (yes if value else no)


def form_refusal(value: str) -> bool | None:
    """The refusal radio's form value as the store takes it; "" (none chosen) is None."""
    if not value:
        return None
    if value not in REFUSAL_VALUES:
        raise ValueError(f"refusal: must be yes or no, got {value!r}")
    return REFUSAL_VALUES[value]


def _state(view: EscalationView, reviewer_id, now: datetime) -> str:
    """resolved | mine (live lease) | expired (was mine) | taken (someone else's) | open."""
    if view.status is EscalationStatus.RESOLVED:
        return "resolved"
    if view.status is EscalationStatus.CLAIMED and view.lease_expires_at > now:
        return "mine" if view.claimed_by == reviewer_id else "taken"
    return "open"


def item_page(view: EscalationView, reviewer_id, now: datetime, *, was_mine: bool) -> dict:
    """Everything the item page shows. ``was_mine``: the reviewer came here from their own
    claim, so an open item means their lease ran out (the store reads it as open again)."""
    label, css = _severity(view)
    state = _state(view, reviewer_id, now)
    if state == "open" and was_mine:
        state = "expired"
    lease_left = (view.lease_expires_at - now).total_seconds() if state in ("mine", "taken") else 0
    probabilities = None
    if None not in (view.prob_safe, view.prob_controversial, view.prob_unsafe):
        probabilities = [
            ("Safe", view.prob_safe),
            ("Controversial", view.prob_controversial),
            ("Unsafe", view.prob_unsafe),
        ]
    return dict(
        id=view.id,
        state=state,
        job_id=view.job_id,
        item_index=view.item_index,
        ref=view.item_ref,
        ref_label=f"ref {view.item_ref}" if view.item_ref else f"sha256 {view.content_sha256[:12]}",
        content_sha256=view.content_sha256,
        age=duration((now - view.created_at).total_seconds()),
        reason=view.reason,
        mode=view.mode.value,
        text=view.text,
        prompt=view.prompt,
        purged=view.purged_at is not None,
        span=marked_text(view.text, view.span_start, view.span_end) if view.text else None,
        severity_label=label,
        severity_class=css,
        categories=[c.value for c in view.categories],
        refusal=view.refusal,
        model_id=view.model_id,
        model_error=view.model_error,
        probabilities=probabilities,
        lease_left_s=int(lease_left),
        lease_left=clock(lease_left),
        decision=view.decision.value if view.decision else None,
        decision_categories=[c.value for c in view.decision_categories],
        decision_refusal=_yes_no(view.decision_refusal),
        # The radio starts from the model's reading, when it gave one.
        refusal_preset=_yes_no(view.refusal, "yes", "no"),
        note=view.note,
        decided_by=view.decided_by_name,
        decided_at=view.decided_at.strftime("%Y-%m-%d %H:%M UTC") if view.decided_at else None,
        overdue=view.overdue(now),
        deadline=deadline(view, now),
        consensus=consensus(view),
        agreed_count=view.agreed_count,
        decisions_made=view.decisions_made,
    )
