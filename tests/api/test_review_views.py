"""What the reviewer page shows of an escalation, without rendering."""

import pytest

from api.review_views import category_choices, clock, duration, form_refusal, marked_text
from guardq.verdict import Category, Mode


def test_marked_text_cuts_the_text_around_the_span():
    marked = marked_text("abcdef", 2, 4)

    assert (marked.before, marked.marked, marked.after) == ("ab", "cd", "ef")


def test_marked_text_ignores_absent_empty_or_out_of_range_spans():
    assert marked_text("abc", None, None) is None
    assert marked_text("abc", 2, 2) is None
    assert marked_text("abc", 1, 9) is None
    assert marked_text("abc", -1, 2) is None


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (5, 125, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "5 s",
        "2 min",
        "3 h 05 min",
        "2 d 4 h",
    ]
    assert clock(65) == "1:05"
    assert clock(-3) == "0:00"


def test_jailbreak_is_offered_for_prompts_only():
    assert Category.JAILBREAK in dict(category_choices(Mode.PROMPT)).values()
    assert Category.JAILBREAK not in dict(category_choices(Mode.RESPONSE)).values()
    assert category_choices(Mode.PROMPT)[0] == (1, Category.VIOLENT)


def test_the_refusal_radio_posts_yes_no_or_nothing():
    assert (form_refusal("yes"), form_refusal("no"), form_refusal("")) == (True, False, None)
    with pytest.raises(ValueError, match="^refusal: must be yes or no, got 'maybe'"):
        form_refusal("maybe")
