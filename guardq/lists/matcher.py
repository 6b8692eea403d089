"""Many lists, compiled once, matched against a text in one pass.

All phrases of the lists go into one Aho–Corasick automaton (``pyahocorasick``): a text
is scanned once whatever the number of phrases, so 10,000 phrases cost about what ten
do (``benchmarks/lists.py``). Regular expressions run one by one after it, within a time
budget per text shared by all of them (the ``regex`` package's ``timeout``): an entry
whose search runs out of budget is reported as timed out, and the caller fails closed
(``guardq.screening`` sends such an item to review).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import ahocorasick

from guardq.lists.entries import compile_regex
from guardq.lists.normalize import Normalized
from guardq.store.enums import EntryKind, ListKind, ListScope

log = logging.getLogger(__name__)

# Hits reported per item and list kind: enough to audit, small enough for a verdict row.
MAX_HITS = 16


@dataclass(frozen=True)
class ListEntry:
    id: int
    kind: EntryKind
    pattern: str


@dataclass(frozen=True)
class ListSpec:
    """A list as the store holds it, ready to compile."""

    name: str
    kind: ListKind
    scope: ListScope
    skip_model: bool
    entries: tuple[ListEntry, ...] = ()


@dataclass(frozen=True)
class Hit:
    """A list entry that matched: where, in the original text's offsets (never what).

    ``timed_out``: a regular expression that ran out of its time bound (no span).
    """

    list_name: str
    list_kind: ListKind
    skip_model: bool
    entry_id: int
    start: int | None = None
    end: int | None = None
    timed_out: bool = False

    def as_json(self) -> dict:
        data = {"list": self.list_name, "kind": self.list_kind.value, "entry": self.entry_id}
        if self.timed_out:
            data["timed_out"] = True
        else:
            data["start"], data["end"] = self.start, self.end
        return data


def _is_word(char: str) -> bool:
    # Letters and digits of scripts written with spaces; CJK and later blocks
    # (from U+2E80) have no word boundaries to require.
    return (char.isalnum() or char == "_") and ord(char) < 0x2E80


@dataclass
class Matcher:
    """The compiled form of some lists; ``match`` finds their hits in a text."""

    lists: tuple[ListSpec, ...]
    _automaton: ahocorasick.Automaton | None = field(default=None, repr=False)
    _regexes: list = field(default_factory=list, repr=False)

    @classmethod
    def compile(cls, lists: Sequence[ListSpec]) -> Matcher:
        matcher = cls(tuple(lists))
        automaton = ahocorasick.Automaton()
        for index, spec in enumerate(matcher.lists):
            for entry in spec.entries:
                if entry.kind is EntryKind.PHRASE:
                    payload = automaton.get(entry.pattern, None)
                    if payload is None:
                        payload = (
                            len(entry.pattern),
                            _is_word(entry.pattern[0]),
                            _is_word(entry.pattern[-1]),
                            [],
                        )
                        automaton.add_word(entry.pattern, payload)
                    payload[3].append((index, entry.id))
                else:
                    try:
                        matcher._regexes.append((index, entry.id, compile_regex(entry.pattern)))
                    except ValueError:
                        # Checked when added; a pattern the installed regex no longer
                        # takes is skipped rather than stopping every batch.
                        log.warning(
                            "list %s entry %d: does not compile; skipped", spec.name, entry.id
                        )
        if len(automaton):
            automaton.make_automaton()
            matcher._automaton = automaton
        return matcher

    @property
    def empty(self) -> bool:
        return self._automaton is None and not self._regexes

    def match(self, text: Normalized, *, deadline: float) -> list[Hit]:
        """The hits in ``text`` (normalised); regexes run until ``deadline``
        (``time.perf_counter()``), after which the rest count as timed out."""
        hits: list[Hit] = []
        seen: set[tuple[int, int]] = set()
        if self._automaton is not None:
            chars = text.text
            for last, (length, word_start, word_end, owners) in self._automaton.iter(chars):
                start, end = last - length + 1, last + 1
                if word_start and start > 0 and _is_word(chars[start - 1]):
                    continue
                if word_end and end < len(chars) and _is_word(chars[end]):
                    continue
                for index, entry_id in owners:
                    if (index, entry_id) in seen:
                        continue
                    seen.add((index, entry_id))
                    hits.append(self._hit(index, entry_id, *text.original_span(start, end)))
                if len(hits) >= MAX_HITS:
                    break
        for index, entry_id, pattern in self._regexes:
            remaining = deadline - time.perf_counter()
            try:
                if remaining <= 0:
                    raise TimeoutError
                found = pattern.search(text.text, timeout=remaining)
            except TimeoutError:
                hits.append(self._hit(index, entry_id, timed_out=True))
                continue
            if found is not None and found.end() > found.start():
                hits.append(self._hit(index, entry_id, *text.original_span(*found.span())))
        return hits

    def _hit(self, index: int, entry_id: int, start=None, end=None, timed_out=False) -> Hit:
        spec = self.lists[index]
        return Hit(spec.name, spec.kind, spec.skip_model, entry_id, start, end, timed_out)
