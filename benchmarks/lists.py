"""What term lists cost per item: the screening step with no lists, with 10,000
phrases, and with 10,000 phrases plus some regular expressions.

    .venv/bin/python benchmarks/lists.py --items 20000 --terms 10000 --regexes 20

Each text is normalised (NFKC, casefold, invisible characters dropped; half the texts
carry non-ASCII characters, which take the slow path) and matched by one Aho-Corasick
automaton for all phrases, then each regular expression within the per-text budget. The
"no lists" row is the pipeline when no list exists: the step is skipped; "normalisation
only" is the share of the cost that does not depend on the lists. Prints
items/s and microseconds per item for each case; ``--json`` adds one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardq.lists.entries import check_entry  # noqa: E402
from guardq.lists.matcher import ListEntry, ListSpec, Matcher  # noqa: E402
from guardq.lists.normalize import normalize  # noqa: E402
from guardq.screening import DEFAULT_REGEX_BUDGET_S  # noqa: E402
from guardq.store.enums import EntryKind, ListKind, ListScope  # noqa: E402


def vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def texts(rng: random.Random, words: list[str], count: int) -> list[str]:
    out = []
    for n in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 80)))
        if n % 2:
            # Non-ASCII: full-width letters, an accent, a zero-width space.
            text = "Ｈｅｌｌｏ café\u200b " + text
        out.append(text)
    return out


def matcher(rng: random.Random, words: list[str], terms: int, regexes: int) -> Matcher:
    phrases = {f"{rng.choice(words)} {rng.choice(words)}" for _ in range(terms * 2)}
    entries = [
        ListEntry(i, EntryKind.PHRASE, check_entry(EntryKind.PHRASE, p).pattern)
        for i, p in enumerate(sorted(phrases)[:terms])
    ]
    entries += [
        ListEntry(terms + i, EntryKind.REGEX, f"{rng.choice(words)}\\s+\\d{{2,}}")
        for i in range(regexes)
    ]
    spec = ListSpec("bench", ListKind.BLOCK, ListScope.DEPLOYMENT, False, tuple(entries))
    return Matcher.compile([spec])


def measure(corpus: list[str], m: Matcher | None) -> tuple[float, int, int]:
    hits = timeouts = 0
    started = time.perf_counter()
    for text in corpus:
        if m is None:
            continue
        if m.empty:
            normalize(text)
            continue
        found = m.match(normalize(text), deadline=time.perf_counter() + DEFAULT_REGEX_BUDGET_S)
        timeouts += sum(hit.timed_out for hit in found)
        hits += len(found)
    return time.perf_counter() - started, hits - timeouts, timeouts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--terms", type=int, default=10_000)
    parser.add_argument("--regexes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    words = vocabulary(rng, 20_000)
    corpus = texts(rng, words, args.items)
    chars = sum(len(t) for t in corpus) / len(corpus)
    started = time.perf_counter()
    phrases = matcher(rng, words, args.terms, 0)
    compile_s = time.perf_counter() - started
    cases = [
        ("no lists", None),
        ("normalisation only", Matcher.compile(())),
        (f"{args.terms:,} phrases", phrases),
        (
            f"{args.terms:,} phrases + {args.regexes} regexes",
            matcher(rng, words, args.terms, args.regexes),
        ),
    ]
    print(f"{args.items:,} texts of {chars:.0f} characters on average (half non-ASCII)")
    print(f"compiling {args.terms:,} phrases: {compile_s * 1000:.0f} ms")
    figures = {}
    for label, m in cases:
        seconds, hits, timeouts = measure(corpus, m)
        per_item = seconds / args.items * 1e6
        if m is None:
            # The pipeline's check finds no list and skips the step: nothing per item.
            figures[label] = {"items_per_s": None, "us_per_item": 0.0, "hits": 0, "timeouts": 0}
            print(f"{label:>38}: no per-item work (one version read per batch)")
            continue
        rate = args.items / seconds
        figures[label] = {
            "items_per_s": rate,
            "us_per_item": per_item,
            "hits": hits,
            "timeouts": timeouts,
        }
        print(
            f"{label:>38}: {rate:>10,.0f} items/s  {per_item:8.1f} us/item  "
            f"{hits:,} hits  {timeouts:,} timed out"
        )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
