"""Seeded synthetic moderation items with their Qwen3Guard-Gen style labels.

The labels follow learnable rules: an item's severity is that of the worst signal phrase
it contains (strong -> Unsafe, mild -> Controversial, none -> Safe) and its categories are
the union of its phrases' categories, in the official order. Signals sit at random
positions inside neutral filler of random length (a few words to a few hundred tokens),
joined by odd whitespace now and then. In response mode only the assistant's text is
judged: a refusal is Safe with ``Refusal: Yes``, whatever the user asked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from synth_banks import (
    CATEGORIES,
    COMPLIANT_OPENERS,
    JOINERS,
    NEUTRAL,
    PHRASES,
    REFUSAL_TAILS,
    REFUSALS,
)

_ORDER = {category: index for index, category in enumerate(CATEGORIES)}
_RESPONSE_CATEGORIES = tuple(c for c in CATEGORIES if c != "Jailbreak")
# How many signal phrases an item carries, and how many filler sentences surround them.
_SIGNAL_COUNTS = ((0, 0.30), (1, 0.40), (2, 0.25), (3, 0.05))
_FILLER_RANGES = (((0, 1), 0.30), ((2, 5), 0.38), ((6, 14), 0.20), ((15, 30), 0.12))


@dataclass(frozen=True)
class Item:
    """One labeled moderation input; ``text`` for prompt mode, ``prompt``/``response``
    for response mode."""

    mode: str
    safety: str
    categories: tuple[str, ...]
    text: str | None = None
    prompt: str | None = None
    response: str | None = None
    refusal: str | None = None

    def messages(self) -> list[dict[str, str]]:
        if self.mode == "prompt":
            return [{"role": "user", "content": self.text}]
        return [
            {"role": "user", "content": self.prompt},
            {"role": "assistant", "content": self.response},
        ]

    def answer(self) -> str:
        lines = [
            f"Safety: {self.safety}",
            "Categories: " + (", ".join(self.categories) or "None"),
        ]
        if self.mode == "response":
            lines.append(f"Refusal: {self.refusal}")
        return "\n".join(lines)

    def key(self) -> tuple[str | None, ...]:
        return (self.mode, self.text, self.prompt, self.response)

    def to_row(self) -> dict:
        row: dict = {"mode": self.mode}
        if self.mode == "prompt":
            row["text"] = self.text
        else:
            row["prompt"] = self.prompt
            row["response"] = self.response
        row.update(safety=self.safety, categories=list(self.categories), refusal=self.refusal)
        return row


def _weighted(rng: random.Random, table):
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights=weights)[0]


def _signals(rng: random.Random, categories, at_least_one: bool = False):
    count = _weighted(rng, _SIGNAL_COUNTS)
    if at_least_one:
        count = max(count, 1)
    signals = []
    for _ in range(count):
        category = rng.choice(categories)
        strong = rng.random() < 0.55
        signals.append((rng.choice(PHRASES[category][0 if strong else 1]), category, strong))
    return signals


def _label(signals) -> tuple[str, tuple[str, ...]]:
    if not signals:
        return "Safe", ()
    severity = "Unsafe" if any(strong for _, _, strong in signals) else "Controversial"
    categories = tuple(sorted({category for _, category, _ in signals}, key=_ORDER.get))
    return severity, categories


def _compose(rng: random.Random, head: list[str], signals, n_filler: int) -> str:
    sentences = [rng.choice(NEUTRAL) for _ in range(n_filler)]
    for phrase, _, _ in signals:
        sentences.insert(rng.randint(0, len(sentences)), phrase)
    sentences = head + sentences
    text = sentences[0]
    for sentence in sentences[1:]:
        text += rng.choice(JOINERS) + sentence
    if rng.random() < 0.05:
        text = rng.choice(JOINERS) + text
    if rng.random() < 0.05:
        text += rng.choice(["\n", " ", "\n\n", "\t"])
    return text


def _n_filler(rng: random.Random, low_cap: int | None = None) -> int:
    low, high = _weighted(rng, _FILLER_RANGES)
    if low_cap is not None:
        high = min(high, low_cap)
        low = min(low, high)
    return rng.randint(low, high)


def _prompt_item(rng: random.Random) -> Item:
    signals = _signals(rng, CATEGORIES)
    n_filler = _n_filler(rng)
    if not signals:
        n_filler = max(n_filler, 1)
    safety, categories = _label(signals)
    text = _compose(rng, [], signals, n_filler)
    return Item("prompt", safety, categories, text=text)


def _response_item(rng: random.Random) -> Item:
    # The user's side may ask for anything, jailbreaks included: it does not decide.
    asks = _signals(rng, CATEGORIES, at_least_one=True) if rng.random() < 0.5 else []
    prompt = _compose(rng, [], asks, max(_n_filler(rng, low_cap=5), 0 if asks else 1))
    if rng.random() < 0.35:
        head = [rng.choice(REFUSALS)]
        if rng.random() < 0.5:
            head.append(rng.choice(REFUSAL_TAILS))
        response = _compose(rng, head, [], rng.randint(0, 2))
        return Item("response", "Safe", (), prompt=prompt, response=response, refusal="Yes")
    signals = _signals(rng, _RESPONSE_CATEGORIES)
    head = [rng.choice(COMPLIANT_OPENERS)] if rng.random() < 0.7 else []
    n_filler = _n_filler(rng)
    if not signals and not head:
        n_filler = max(n_filler, 1)
    safety, categories = _label(signals)
    response = _compose(rng, head, signals, n_filler)
    return Item("response", safety, categories, prompt=prompt, response=response, refusal="No")


def generate(
    n_prompt: int, n_response: int, seed: int, exclude: set | frozenset = frozenset()
) -> list[Item]:
    """``n_prompt`` + ``n_response`` distinct items, none whose text is in ``exclude``
    (a set of :meth:`Item.key`), shuffled with ``seed``."""
    rng = random.Random(seed)
    seen = set(exclude)
    items: list[Item] = []
    for make, wanted in ((_prompt_item, n_prompt), (_response_item, n_response)):
        made = 0
        while made < wanted:
            item = make(rng)
            if item.key() in seen:
                continue
            seen.add(item.key())
            items.append(item)
            made += 1
    rng.shuffle(items)
    return items
