"""Term-list matching: normalisation that defeats full-width and zero-width tricks,
phrases at word boundaries, spans in the original text, and bounded regexes."""

from __future__ import annotations

import time

import pytest

from guardq.lists.entries import check_entry
from guardq.lists.matcher import ListEntry, ListSpec, Matcher
from guardq.lists.normalize import normalize
from guardq.policy import Action, Decision
from guardq.reasons import screening_kind
from guardq.screening import Screen
from guardq.store.enums import EntryKind, ListKind, ListScope

PHRASE, REGEX = EntryKind.PHRASE, EntryKind.REGEX


def matcher(*entries, kind=ListKind.BLOCK, skip=False, name="spam") -> Matcher:
    spec = ListSpec(
        name,
        kind,
        ListScope.DEPLOYMENT,
        skip,
        tuple(ListEntry(i + 1, k, check_entry(k, p).pattern) for i, (k, p) in enumerate(entries)),
    )
    return Matcher.compile([spec])


def hits(m: Matcher, text: str, budget: float = 0.5):
    return m.match(normalize(text), deadline=time.perf_counter() + budget)


@pytest.mark.parametrize(
    "text",
    [
        "buy cheap pills now",
        "buy ＣＨＥＡＰ ＰＩＬＬＳ now",  # full-width letters
        "buy ch\u200bea\u200dp pi\u2060lls now",  # zero-width space, joiner, word joiner
    ],
)
def test_full_width_and_zero_width_variants_match_with_spans_in_the_original(text):
    (hit,) = hits(matcher((PHRASE, "Cheap Pills")), text)
    assert (hit.list_name, hit.entry_id, hit.timed_out) == ("spam", 1, False)
    # The span is in the producer's offsets: it covers the variant as written.
    assert (hit.start, hit.end) == (4, len(text) - 4)
    assert normalize(text[hit.start : hit.end]).text == "cheap pills"


def test_a_phrase_matches_only_at_word_boundaries():
    m = matcher((PHRASE, "ass"))
    assert hits(m, "a class act") == []
    assert [h.start for h in hits(m, "you ass!")] == [4]


def test_cjk_phrases_match_without_spaces():
    (hit,) = hits(matcher((PHRASE, "暴乱")), "写口号号召上街暴乱。")
    assert (hit.start, hit.end) == (7, 9)


def test_a_phrase_in_two_lists_is_reported_for_each():
    specs = [
        ListSpec("a", ListKind.BLOCK, ListScope.DEPLOYMENT, False, (ListEntry(1, PHRASE, "x y"),)),
        ListSpec("b", ListKind.ALLOW, ListScope.DEPLOYMENT, True, (ListEntry(2, PHRASE, "x y"),)),
    ]
    found = Matcher.compile(specs).match(normalize("X Y"), deadline=time.perf_counter() + 1)
    assert {(h.list_name, h.entry_id) for h in found} == {("a", 1), ("b", 2)}


def test_a_regex_matches_case_insensitively_on_the_normalised_text():
    (hit,) = hits(matcher((REGEX, r"v[i1]agra")), "Get VIАGRA now".replace("А", "A"))
    assert (hit.start, hit.end) == (4, 10)


def test_a_runaway_regex_is_stopped_at_its_time_bound_and_reported_timed_out():
    m = matcher((REGEX, r"(x+x+)+y"), (REGEX, r"zz+"))
    started = time.perf_counter()
    found = hits(m, "x" * 5000 + " zzz", budget=0.05)
    assert time.perf_counter() - started < 2  # the bound holds (generous on a busy CPU)
    assert [(h.entry_id, h.timed_out) for h in found] == [(1, True), (2, True)]


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        (REGEX, "(unclosed", "invalid regular expression"),
        (REGEX, "a*", "matches the empty string"),
        (PHRASE, "\u200b ", "empty once normalised"),
        (PHRASE, "x" * 201, "over the limit of 200"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(kind, value, problem):
    with pytest.raises(ValueError, match=problem):
        check_entry(kind, value)


BASE = Decision(Action.ALLOW, "severity Safe")


def test_a_block_hit_blocks_naming_the_list_and_entry_and_keeps_the_model_reason():
    (hit,) = hits(matcher((PHRASE, "cheap pills")), "cheap pills")
    decision = Screen((hit,)).decide(BASE)
    assert decision.action is Action.BLOCK
    assert decision.reason == "block list 'spam' entry 1; model: severity Safe"
    assert "cheap" not in decision.reason


def test_an_allow_list_with_skip_model_decides_without_the_model():
    (hit,) = hits(
        matcher((PHRASE, "unsubscribe here"), kind=ListKind.ALLOW, skip=True), "Unsubscribe here"
    )
    screen = Screen((hit,))
    assert screen.skip_model
    assert screen.verdict().severity is None
    decision = screen.decide(None)
    assert (decision.action, decision.reason) == (
        Action.ALLOW,
        "allow list 'spam' entry 1; not judged by the model",
    )


def test_a_timed_out_block_regex_sends_the_item_to_review_at_least():
    (hit,) = hits(matcher((REGEX, r"(x+x+)+y")), "x" * 5000, budget=0.01)
    screen = Screen((hit,))
    assert not screen.skip_model
    assert screen.decide(BASE).action is Action.REVIEW
    assert screen.decide(Decision(Action.BLOCK, "severity Unsafe")).action is Action.BLOCK


def test_an_author_hold_beats_an_allow_list_but_not_a_block_list():
    (allow,) = hits(matcher((PHRASE, "hi"), kind=ListKind.ALLOW), "hi")
    assert Screen((allow,), hold=Action.BLOCK).decide(BASE).reason.startswith("author on hold")
    (block,) = hits(matcher((PHRASE, "hi")), "hi")
    assert Screen((block,), hold=Action.REVIEW).decide(BASE).action is Action.BLOCK
    assert Screen((), hold=Action.REVIEW).decide(BASE).action is Action.REVIEW


def test_what_a_list_or_a_hold_decided_is_read_back_from_the_reason():
    (block,) = hits(matcher((PHRASE, "hi")), "hi")
    (slow,) = hits(matcher((REGEX, r"(x+x+)+y")), "x" * 5000, budget=0.01)
    # A list's name cannot pass for a check: only the reason's start counts.
    (allow,) = hits(matcher((PHRASE, "hi"), kind=ListKind.ALLOW, name="block list"), "hi")
    unsafe = Decision(Action.BLOCK, "severity Unsafe")
    kinds = {
        Screen((block,)).decide(BASE).reason: "block_list",
        Screen((slow,)).decide(BASE).reason: "block_list",
        Screen((), hold=Action.REVIEW).decide(BASE).reason: "author_hold",
        Screen((), hold=Action.BLOCK).decide(None).reason: "author_hold",
        Screen((allow,)).decide(BASE).reason: None,
        Screen((allow,), hold=Action.REVIEW).decide(unsafe).reason: "author_hold",
        "severity Controversial": None,
        "unparsed model output: author on hold": None,
    }
    assert {reason: screening_kind(reason) for reason in kinds} == kinds


def test_an_item_drawn_for_the_review_sample_stays_drawn_when_a_list_or_hold_blocks_it():
    sampled = Decision(Action.BLOCK, "severity Unsafe; blocked, and sampled for review", True)
    (block,) = hits(matcher((PHRASE, "hi")), "hi")
    (slow,) = hits(matcher((REGEX, r"(x+x+)+y")), "x" * 5000, budget=0.01)
    for screen in (Screen((block,)), Screen((), hold=Action.REVIEW), Screen((slow,))):
        decision = screen.decide(sampled)
        assert (decision.action, decision.sampled, decision.escalates) == (
            Action.BLOCK,
            True,
            True,
        )
        assert decision.reason.endswith("; blocked, and sampled for review")
    assert not Screen((block,)).decide(Decision(Action.BLOCK, "severity Unsafe")).sampled
