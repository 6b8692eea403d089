"""Before the model: term-list hits and author holds, and how they change the decision.

``screen_batch`` runs on the worker for a batch of items, before the verdict cache and
the engine. It finds each item's term-list hits (``guardq.lists``: the deployment's
lists and those its job names, on the normalised text) and whether its author is on
hold (``guardq.authors``), in a few statements per batch. The result, a ``Screen`` per
item that has something to say, rides with the item to ``guardq.recording``, where
``Screen.decide`` combines it with the policy's decision on the model's verdict:

1. a block-list hit blocks, the reason naming the list and the entry id (never the
   matched text);
2. else a held author's item is blocked (or sent to review, as the policy says),
   reason "author on hold";
3. else a regular expression that ran past its time bound sends the item to review at
   least (fail closed);
4. else an allow-list hit allows;
5. else the policy decides alone.

The model still judges the item, so that the audit shows both, unless a list with
``skip_model`` decided it: then the verdict records no severity and the error says
which list decided instead of the model.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from guardq.lists.cache import compiled_lists
from guardq.lists.matcher import Hit
from guardq.lists.normalize import normalize
from guardq.policy import Action, Decision, Policy
from guardq.reasons import AUTHOR_HOLD
from guardq.store.authors import hold_states
from guardq.store.enums import ListKind
from guardq.store.models import Item, Job
from guardq.verdict import Verdict

# Time all regular expressions of all lists may take on one text (the regex package's
# timeout, wall-clock); past it the remaining ones count as timed out. Ordinary patterns
# take microseconds; the margin is for a busy CPU, where a descheduled worker would
# otherwise send harmless items to review.
DEFAULT_REGEX_BUDGET_S = 0.1
_NAMED = 3


@dataclass(frozen=True)
class Screen:
    """What the lists and the author's standing say about one item."""

    hits: tuple[Hit, ...] = ()
    # The held author's action (block or review); None when not on hold.
    hold: Action | None = None

    def _of(self, kind: ListKind, timed_out: bool = False) -> list[Hit]:
        return [h for h in self.hits if h.list_kind is kind and h.timed_out is timed_out]

    @property
    def skip_model(self) -> bool:
        """Whether a list decides without the model."""
        blocks = self._of(ListKind.BLOCK)
        if blocks:
            return any(h.skip_model for h in blocks)
        if self._of(ListKind.BLOCK, timed_out=True):
            return False
        return any(h.skip_model for h in self._of(ListKind.ALLOW))

    def verdict(self) -> Verdict:
        """The verdict recorded when the model did not judge (``skip_model``)."""
        return Verdict(severity=None, error=f"not judged by the model: {self._deciding()}")

    def _deciding(self) -> str:
        return _names(self._of(ListKind.BLOCK) or self._of(ListKind.ALLOW))

    def hits_json(self) -> list[dict] | None:
        return [h.as_json() for h in self.hits] or None

    def decide(self, base: Decision | None) -> Decision:
        """The decision, given the policy's on the model's verdict (None: not judged)."""
        model = f"model: {base.reason}" if base else "not judged by the model"
        # A blocked Unsafe item drawn for the review sample stays drawn when a list or
        # a hold blocks it too: its reason says so, and a reviewer gets it.
        sampled = base is not None and base.sampled
        blocks = self._of(ListKind.BLOCK)
        if blocks:
            return Decision(Action.BLOCK, f"{_names(blocks)}; {model}", sampled=sampled)
        if self.hold is not None:
            action = _strictest(self.hold, base)
            reason = f"{AUTHOR_HOLD}; {model}"
            return Decision(action, reason, sampled=sampled and action is Action.BLOCK)
        timeouts = self._of(ListKind.BLOCK, timed_out=True)
        if timeouts:
            action = _strictest(Action.REVIEW, base)
            reason = f"{_names(timeouts)} ran past its time bound; {model}"
            return Decision(action, reason, sampled=sampled and action is Action.BLOCK)
        allows = self._of(ListKind.ALLOW)
        if allows:
            return Decision(Action.ALLOW, f"{_names(allows)}; {model}")
        # Nothing to say; never reached with base None (skip_model needs a list hit).
        return base or Decision(Action.REVIEW, "not judged by the model")


def _strictest(action: Action, base: Decision | None) -> Action:
    if base is None:
        return action
    return max(action, base.action, key=lambda a: a.rank)


def _names(hits: Sequence[Hit]) -> str:
    named = [f"{h.list_kind.value} list {h.list_name!r} entry {h.entry_id}" for h in hits]
    if len(named) > _NAMED:
        named = named[:_NAMED] + [f"and {len(named) - _NAMED} more"]
    return ", ".join(named)


def screen_batch(
    session: Session,
    items: Sequence[tuple[uuid.UUID, str]],
    *,
    policy: Policy,
    now: datetime,
    regex_budget_s: float = DEFAULT_REGEX_BUDGET_S,
) -> dict[uuid.UUID, Screen]:
    """The ``Screen`` of each item of ``items`` ((id, judged text)) that a list or its
    author's hold concerns. One read when no list exists and no author policy is set."""
    if not items:
        return {}
    compiled = compiled_lists(session)
    if compiled.empty and policy.authors is None:
        return {}
    rows = {}
    if compiled.by_name or policy.authors is not None:
        rows = {
            row.id: row
            for row in session.execute(
                select(Item.id, Item.author_hash, Item.author_hash_previous, Job.lists)
                .join(Job, Job.id == Item.job_id)
                .where(Item.id.in_([item_id for item_id, _ in items]))
            )
        }
    holds: dict[uuid.UUID, Action] = {}
    if policy.authors is not None:
        keys = {
            row.id: frozenset({row.author_hash, row.author_hash_previous} - {None})
            for row in rows.values()
            if row.author_hash is not None
        }
        states = hold_states(
            session=session,
            authors={key: key for key in set(keys.values())},
            policy=policy.authors,
            now=now,
        )
        on_hold = Action(policy.authors.on_hold)
        holds = {item_id: on_hold for item_id, key in keys.items() if states[key].on_hold}
    screens = {}
    for item_id, text in items:
        row = rows.get(item_id)
        matchers = compiled.matchers(row.lists if row is not None else None)
        hits: list[Hit] = []
        if matchers:
            normalized = normalize(text)
            deadline = time.perf_counter() + regex_budget_s
            for matcher in matchers:
                hits += matcher.match(normalized, deadline=deadline)
        if hits or item_id in holds:
            screens[item_id] = Screen(tuple(hits), holds.get(item_id))
    return screens
