"""The one parser of Qwen3Guard-Gen output text.

The answer is a few ``Key: value`` lines (``Safety:``, ``Categories:``, and in
response mode usually ``Refusal:``). The parser fails closed: whatever it cannot read
for certain comes back as an unparsed verdict (``severity=None``) with the reason,
never as Safe. A contradiction (Safe naming a harm category) is unparsed too; Unsafe or
Controversial with ``Categories: None`` keeps its severity, the stricter reading.
"""

from __future__ import annotations

import re

from guardq.verdict import Category, Mode, Severity, Verdict, sorted_categories

# A think block may precede the answer; an unclosed one swallows the rest, which then
# leaves no Safety line and so fails closed.
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$")
_REFUSAL = {"yes": True, "no": False}


def parse_output(text: str, mode: Mode) -> Verdict:
    """Read the model's answer into a :class:`Verdict`.

    Unknown extra ``Key: value`` lines are kept in ``Verdict.extra``; a line count is
    never relied on. In response mode a missing ``Refusal:`` line leaves
    ``refusal=None`` (some checkpoints omit it); a present but unreadable one fails.
    """
    fields: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for line in _THINK.sub("", text).splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        key, value = match.group(1).strip(), match.group(2)
        lowered = key.lower()
        if lowered in ("safety", "categories", "refusal"):
            if lowered in fields and fields[lowered] != value:
                return _unparsed(f"conflicting {key} lines")
            fields[lowered] = value
        else:
            extra.append((key, value))

    if "safety" not in fields:
        return _unparsed("no Safety line")
    try:
        severity = Severity.from_label(fields["safety"])
    except ValueError as exc:
        return _unparsed(str(exc))

    if "categories" not in fields:
        return _unparsed("no Categories line (truncated output?)")
    try:
        categories = _parse_categories(fields["categories"])
    except ValueError as exc:
        return _unparsed(str(exc))
    # A Safe verdict that names a harm contradicts itself: neither reading is certain,
    # so it fails closed. The opposite case, Unsafe or Controversial with
    # "Categories: None", keeps its severity: the stricter of the two readings.
    if severity is Severity.SAFE and categories:
        names = ", ".join(category.value for category in categories)
        return _unparsed(f"contradictory verdict: Safe with categories {names}")

    refusal = None
    if "refusal" in fields:
        refusal = _REFUSAL.get(fields["refusal"].strip().lower())
        if refusal is None:
            return _unparsed(f"unknown refusal {fields['refusal']!r}: expected Yes or No")

    return Verdict(
        severity=severity,
        categories=categories,
        # Refusal is a property of a response; a prompt verdict carries none.
        refusal=refusal if mode is Mode.RESPONSE else None,
        extra=tuple(extra),
    )


def _parse_categories(value: str) -> tuple[Category, ...]:
    entries = [entry.strip().rstrip(".").strip() for entry in value.split(",")]
    if [entry.lower() for entry in entries] == ["none"]:
        return ()
    if any(not entry or entry.lower() == "none" for entry in entries):
        raise ValueError(f"malformed categories {value!r}")
    return sorted_categories(Category.from_label(entry) for entry in entries)


def _unparsed(reason: str) -> Verdict:
    return Verdict(severity=None, error=reason)
