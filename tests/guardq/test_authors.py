"""Author holds as a function of strike times, the last lift and an injected "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from guardq.authors import AuthorPolicy, author_hash, hold_state
from guardq.policy import Policy
from guardq.settings import Settings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = AuthorPolicy(unsafe_strikes=3, window="P1D", hold="PT24H")
H = timedelta(hours=1)


def test_the_third_strike_within_the_window_holds_for_the_hold_period():
    strikes = [T0, T0 + H, T0 + 2 * H]
    assert not hold_state(strikes[:2], POLICY, now=T0 + 2 * H).on_hold
    state = hold_state(strikes, POLICY, now=T0 + 2 * H)
    assert (state.on_hold, state.strikes) == (True, 3)
    assert state.held_since == T0 + 2 * H
    assert state.hold_until == T0 + 26 * H
    # The hold expires on the clock, with nothing else changing.
    assert hold_state(strikes, POLICY, now=T0 + 26 * H - timedelta(seconds=1)).on_hold
    assert not hold_state(strikes, POLICY, now=T0 + 26 * H).on_hold


def test_strikes_spread_wider_than_the_window_do_not_hold():
    strikes = [T0, T0 + 13 * H, T0 + 26 * H]
    assert not hold_state(strikes, POLICY, now=T0 + 26 * H).on_hold


def test_a_strike_during_a_hold_extends_it():
    strikes = [T0, T0 + H, T0 + 2 * H, T0 + 20 * H]
    state = hold_state(strikes, POLICY, now=T0 + 30 * H)
    assert (state.held_since, state.hold_until) == (T0 + 2 * H, T0 + 44 * H)


def test_a_lift_ends_the_hold_and_clears_the_strikes_before_it():
    strikes = [T0, T0 + H, T0 + 2 * H]
    state = hold_state(strikes, POLICY, now=T0 + 3 * H, lifted_at=T0 + 3 * H)
    assert (state.on_hold, state.strikes) == (False, 0)
    # Two more strikes after the lift are not three.
    later = strikes + [T0 + 4 * H, T0 + 5 * H]
    assert not hold_state(later, POLICY, now=T0 + 5 * H, lifted_at=T0 + 3 * H).on_hold


def test_the_policy_takes_iso_durations_and_refuses_bad_ones():
    policy = Policy.model_validate(
        {"authors": {"unsafe_strikes": 3, "window": "P1D", "hold": "PT24H", "on_hold": "review"}}
    )
    assert policy.authors.window == timedelta(days=1)
    bad_policies = [
        {"unsafe_strikes": 0, "window": "P1D", "hold": "P1D"},
        {"unsafe_strikes": 3, "window": "-P1D", "hold": "P1D"},
        {"unsafe_strikes": 3, "window": "P1D", "hold": "P1D", "on_hold": "allow"},
    ]
    for bad in bad_policies:
        with pytest.raises(ValidationError):
            Policy.model_validate({"authors": bad})


def test_authors_are_kept_as_hmacs_under_the_current_then_the_previous_secret():
    settings = Settings(author_secret="n" * 32, author_secret_previous="o" * 32)
    assert settings.author_hashes("user-1") == (
        author_hash("n" * 32, "user-1"),
        author_hash("o" * 32, "user-1"),
    )
    assert "user-1" not in "".join(settings.author_hashes("user-1"))
    with pytest.raises(ValueError, match="GUARDQ_AUTHOR_SECRET"):
        Settings().author_hashes("user-1")
    with pytest.raises(ValidationError, match="at least 16"):
        Settings(author_secret="short")
