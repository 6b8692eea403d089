"""A list entry as an admin writes it: a phrase or a regular expression, checked once.

Phrases are normalised as texts are (``guardq.lists.normalize``) and matched whole:
a phrase that starts or ends with a letter or digit does not match inside a longer word
("ass" never matches "class"). Scripts written without spaces (CJK) match anywhere.

Regular expressions use the ``regex`` package, whose searches take a ``timeout``: a
pattern that backtracks without end is stopped at the worker's time bound instead of
holding it (``guardq.lists.matcher``). They are compiled case-insensitively and run on
the normalised text. A pattern that does not compile, or that matches the empty string
(and so every text), is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from guardq.lists.normalize import normalize_term
from guardq.store.enums import EntryKind

MAX_PHRASE_CHARS = 200
MAX_REGEX_CHARS = 500
REGEX_FLAGS = regex.IGNORECASE | regex.V1


@dataclass(frozen=True)
class EntrySpec:
    """A checked entry: ``pattern`` as stored (a phrase normalised; a regex as given)."""

    kind: EntryKind
    pattern: str


def check_entry(kind: EntryKind, value: str) -> EntrySpec:
    """``value`` as an entry of ``kind``; ValueError saying what is wrong (never a 500)."""
    if "\x00" in value:
        raise ValueError("contains the NUL character (U+0000), which the store cannot hold")
    if kind is EntryKind.PHRASE:
        phrase = normalize_term(value)
        if not phrase:
            raise ValueError("is empty once normalised (NFKC, casefold, invisible characters)")
        if len(phrase) > MAX_PHRASE_CHARS:
            raise ValueError(f"{len(phrase)} characters, over the limit of {MAX_PHRASE_CHARS}")
        return EntrySpec(kind, phrase)
    if len(value) > MAX_REGEX_CHARS:
        raise ValueError(f"{len(value)} characters, over the limit of {MAX_REGEX_CHARS}")
    compiled = compile_regex(value)
    if compiled.search("", timeout=0.1) is not None:
        raise ValueError("matches the empty string, so it would match every text")
    return EntrySpec(kind, value)


def compile_regex(pattern: str) -> regex.Pattern:
    try:
        return regex.compile(pattern, REGEX_FLAGS)
    except regex.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
