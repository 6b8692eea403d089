import pytest
from pydantic import ValidationError

from guardq.policy import Action, Policy
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
