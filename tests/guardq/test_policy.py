import hashlib
from datetime import timedelta

import pytest
from pydantic import ValidationError

from guardq.policy import Action, Policy, reason_kind
from guardq.verdict import Category, Severity, Verdict


def verdict(severity, *categories):
    return Verdict(severity=severity, categories=tuple(categories))


def test_default_policy_allows_safe_reviews_controversial_blocks_unsafe():
    policy = Policy()
    assert policy.decide(verdict(Severity.SAFE)).action is Action.ALLOW
    controversial = verdict(Severity.CONTROVERSIAL, Category.POLITICAL)
    assert policy.decide(controversial).action is Action.REVIEW
    assert policy.decide(verdict(Severity.UNSAFE, Category.VIOLENT)).action is Action.BLOCK


@pytest.mark.parametrize(("mode", "action"), [("strict", Action.BLOCK), ("loose", Action.ALLOW)])
def test_strict_and_loose_controversial(mode, action):
    policy = Policy(controversial=mode)
    assert policy.decide(verdict(Severity.CONTROVERSIAL, Category.PII)).action is action


def test_unparsed_is_never_allowed_and_says_why():
    policy = Policy(categories={"Violent": "allow"})
    decision = policy.decide(Verdict(severity=None, error="no Safety line"))
    assert decision.action is Action.REVIEW
    assert "no Safety line" in decision.reason
    assert Policy(unparsed="block").decide(Verdict(severity=None, error="x")).action is Action.BLOCK
    with pytest.raises(ValidationError):
        Policy(unparsed="allow")


def test_category_override_lowers_only_when_every_category_is_overridden():
    policy = Policy.model_validate({"categories": {"Politically Sensitive Topics": "allow"}})
    alone = policy.decide(verdict(Severity.UNSAFE, Category.POLITICAL))
    assert alone.action is Action.ALLOW
    assert "Politically Sensitive Topics" in alone.reason
    mixed = verdict(Severity.UNSAFE, Category.VIOLENT, Category.POLITICAL)
    assert policy.decide(mixed).action is Action.BLOCK


def test_category_override_raises_controversial_to_block():
    policy = Policy.model_validate({"categories": {"PII": "block"}})
    assert policy.decide(verdict(Severity.CONTROVERSIAL, Category.PII)).action is Action.BLOCK
    assert policy.decide(verdict(Severity.SAFE)).action is Action.ALLOW


def test_unknown_category_in_policy_names_it_and_the_allowed_ones():
    with pytest.raises(ValidationError, match="unknown category 'Violence'.*Violent"):
        Policy.model_validate({"categories": {"Violence": "block"}})


def test_unknown_action_and_unknown_key_are_rejected():
    with pytest.raises(ValidationError, match="categories"):
        Policy.model_validate({"categories": {"PII": "delete"}})
    with pytest.raises(ValidationError, match="controversal"):
        Policy.model_validate({"controversal": "strict"})


def _hash(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_unsafe_sample_stays_blocked_but_escalates_and_says_why():
    policy = Policy(unsafe_review_sample=1.0)
    decision = policy.decide(verdict(Severity.UNSAFE, Category.VIOLENT), _hash(0))
    assert decision.action is Action.BLOCK
    assert decision.sampled and decision.escalates
    assert "sampled for review" in decision.reason


def test_unsafe_sample_is_drawn_by_content_hash_so_a_redelivery_decides_the_same():
    policy = Policy(unsafe_review_sample=0.25)
    unsafe = verdict(Severity.UNSAFE, Category.VIOLENT)
    draws = [policy.decide(unsafe, _hash(n)).sampled for n in range(2000)]
    assert draws == [policy.decide(unsafe, _hash(n)).sampled for n in range(2000)]
    assert 0.2 < sum(draws) / len(draws) < 0.3


def test_no_sample_by_default_and_never_for_other_severities():
    unsafe = verdict(Severity.UNSAFE, Category.VIOLENT)
    assert not Policy().decide(unsafe, _hash(1)).escalates
    sampling = Policy(unsafe_review_sample=1.0)
    assert not sampling.decide(verdict(Severity.SAFE), _hash(1)).escalates
    allowed = Policy(unsafe_review_sample=1.0, categories={"Violent": "allow"})
    assert not allowed.decide(unsafe, _hash(1)).escalates
    assert Policy().decide(verdict(Severity.CONTROVERSIAL, Category.PII)).escalates


@pytest.mark.parametrize("rate", [-0.1, 1.5, "often"])
def test_unsafe_sample_outside_zero_to_one_is_refused_naming_the_field(rate):
    with pytest.raises(ValidationError, match="unsafe_review_sample"):
        Policy(unsafe_review_sample=rate)


def test_review_decisions_take_the_largest_number_that_applies():
    policy = Policy.model_validate(
        {
            "review": {
                "decisions": 1,
                "by_category": {"Suicide & Self-Harm": 2, "PII": 3},
                "by_severity": {"unparsed": 2},
            }
        }
    )

    assert policy.decide(verdict(Severity.CONTROVERSIAL, Category.POLITICAL)).decisions == 1
    assert policy.decide(verdict(Severity.CONTROVERSIAL, Category.SELF_HARM)).decisions == 2
    both = verdict(Severity.CONTROVERSIAL, Category.SELF_HARM, Category.PII)
    assert policy.decide(both).decisions == 3
    assert policy.decide(Verdict(severity=None, error="no Safety line")).decisions == 2
    # Nothing to review, nothing to decide.
    assert policy.decide(verdict(Severity.SAFE)).decisions == 1


def test_review_deadline_follows_the_reason_of_the_escalation():
    policy = Policy.model_validate(
        {"unsafe_review_sample": 1.0, "review": {"due_s": {"controversial": 600}}}
    )
    sha = "0" * 64

    assert policy.decide(verdict(Severity.CONTROVERSIAL, Category.POLITICAL)).due_in == (
        timedelta(seconds=600)
    )
    assert policy.decide(verdict(Severity.UNSAFE, Category.VIOLENT), sha).due_in == (
        timedelta(hours=72)
    )
    assert policy.decide(Verdict(severity=None, error="x")).due_in == timedelta(hours=4)
    assert policy.decide(verdict(Severity.SAFE)).due_in is None


@pytest.mark.parametrize(
    ("reason", "sampled", "kind"),
    [
        ("severity Controversial", False, "controversial"),
        ("severity Unsafe, policy for PII", False, "controversial"),
        ("severity Unsafe; blocked, and sampled for review", True, "sampled"),
        ("unparsed model output: no Safety line", False, "unparsed"),
        # What guardq.screening writes when a list or a hold decided.
        (
            "block list 'spam' entry 12 ran past its time bound; model: severity Safe",
            False,
            "block_list",
        ),
        ("author on hold; model: severity Controversial", False, "author_hold"),
        ("author on hold; model: unparsed model output: x", False, "author_hold"),
        (
            "block list 'spam' entry 1; model: severity Unsafe; blocked, and sampled for review",
            True,
            "sampled",
        ),
        # Only the reason's start counts: words elsewhere do not make it a list or a hold.
        ("sent to review by author hold from the check page", False, "controversial"),
        ("allow list 'block list' entry 3; model: severity Controversial", False, "controversial"),
    ],
)
def test_reason_kinds(reason, sampled, kind):
    assert reason_kind(reason, sampled) == kind


@pytest.mark.parametrize(
    ("review", "named"),
    [
        ({"decisions": 0}, "decisions"),
        ({"decisions": 6}, "decisions"),
        ({"by_category": {"Gossip": 2}}, "unknown category 'Gossip'"),
        ({"due_s": {"weekend": 60}}, "due_s"),
        ({"due_s": {"unparsed": 0}}, "due_s"),
    ],
)
def test_bad_review_settings_name_the_field(review, named):
    with pytest.raises(ValidationError, match=named):
        Policy.model_validate({"review": review})
