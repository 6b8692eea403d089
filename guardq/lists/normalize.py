"""Text as the term lists see it: NFKC, casefolded, without invisible format characters.

Full-width letters (``ｂａｄ``), ligatures and compatibility forms fold to their plain
letters under NFKC; casefolding removes case (``ß`` matches ``ss``); characters of Unicode
category Cf (zero-width space, zero-width joiner, soft hyphen, word joiner, bidi controls)
are dropped, so that ``b\u200bad`` reads ``bad``. Each normalised character remembers the
span of original characters it came from, so that a hit is reported in the producer's
own offsets.

A base character and the combining marks after it are normalised together (NFKC composes
them); everything else one character at a time, which is what keeps the offset map exact.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import regex


@dataclass(frozen=True)
class Normalized:
    """``text`` normalised; ``starts[i]``/``ends[i]``: the original span of ``text[i]``.

    Both are None when the text was ASCII: then offsets are the same in both.
    """

    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``[start, end)`` of normalised ``[start, end)`` (end > start)."""
        if self.starts is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def normalize_term(term: str) -> str:
    """A list entry's phrase, normalised as texts are (without the offset map)."""
    return normalize(term).text.strip()


def normalize(text: str) -> Normalized:
    """``text`` as the matchers read it (see the module docstring)."""
    if text.isascii():
        # NFKC leaves ASCII as it is, and ASCII has no Cf characters: only case remains.
        return Normalized(text.lower())
    folded = text.casefold()
    # Casefolding never shortens a character, so an equal length means one character
    # for one: when NFKC changes nothing either, the offsets are the original ones.
    if (
        len(folded) == len(text)
        and unicodedata.is_normalized("NFKC", text)
        and not _FORMAT.search(text)
    ):
        return Normalized(folded)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    # ASCII runs map one to one; only the non-ASCII runs go character by character.
    for run in _NON_ASCII.finditer(text):
        start, end = run.span()
        if start > position and unicodedata.combining(text[start]):
            start -= 1  # a combining mark is normalised with its base character
        if start > position:
            out.append(text[position:start].lower())
            starts.extend(range(position, start))
            ends.extend(range(position + 1, start + 1))
        _segments(text, start, end, out, starts, ends)
        position = end
    if position < len(text):
        out.append(text[position:].lower())
        starts.extend(range(position, len(text)))
        ends.extend(range(position + 1, len(text) + 1))
    return Normalized("".join(out), tuple(starts), tuple(ends))


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_FORMAT = regex.compile(r"\p{Cf}")


def _segments(
    text: str, position: int, stop: int, out: list[str], starts: list[int], ends: list[int]
) -> None:
    """Normalise ``text[position:stop]`` a base character (with its marks) at a time."""
    while position < stop:
        end = position + 1
        while end < stop and unicodedata.combining(text[end]):
            end += 1
        segment = text[position:end]
        if unicodedata.category(segment[0]) != "Cf":
            folded = unicodedata.normalize("NFKC", segment).casefold()
            # NFKC after casefolding, as Unicode's NFKC_Casefold does: a casefold can
            # produce a sequence that composes.
            folded = "".join(
                c for c in unicodedata.normalize("NFKC", folded) if unicodedata.category(c) != "Cf"
            )
            out.append(folded)
            starts.extend([position] * len(folded))
            ends.extend([end] * len(folded))
        position = end
