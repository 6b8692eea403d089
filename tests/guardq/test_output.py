import pytest

from guardq.output import parse_output
from guardq.policy import Action, Policy
from guardq.verdict import Category, Mode, Severity


def test_model_card_prompt_example_parses():
    verdict = parse_output("Safety: Unsafe\nCategories: Violent", Mode.PROMPT)
    assert verdict.severity is Severity.UNSAFE
    assert verdict.categories == (Category.VIOLENT,)
    assert verdict.refusal is None
    assert verdict.parsed and verdict.error is None


def test_model_card_response_example_parses_refusal():
    verdict = parse_output("Safety: Safe\nCategories: None\nRefusal: Yes", Mode.RESPONSE)
    assert verdict.severity is Severity.SAFE
    assert verdict.categories == ()
    assert verdict.refusal is True


def test_controversial_with_category():
    verdict = parse_output(
        "Safety: Controversial\nCategories: Politically Sensitive Topics", Mode.PROMPT
    )
    assert verdict.severity is Severity.CONTROVERSIAL
    assert verdict.categories == (Category.POLITICAL,)


def test_multi_category_line_is_split_exactly_and_put_in_official_order():
    verdict = parse_output(
        "Safety: Unsafe\nCategories: PII, Non-violent Illegal Acts, Violent", Mode.PROMPT
    )
    assert verdict.categories == (Category.VIOLENT, Category.NON_VIOLENT_ILLEGAL, Category.PII)


def test_non_violent_is_not_read_as_violent():
    verdict = parse_output("Safety: Unsafe\nCategories: Non-violent Illegal Acts", Mode.PROMPT)
    assert verdict.categories == (Category.NON_VIOLENT_ILLEGAL,)


def test_stray_whitespace_and_case_are_tolerated():
    text = "\n\n  safety :   unsafe  \r\n\tCategories:Suicide & Self-Harm ,  Jailbreak \n\n"
    verdict = parse_output(text, Mode.PROMPT)
    assert verdict.severity is Severity.UNSAFE
    assert verdict.categories == (Category.SELF_HARM, Category.JAILBREAK)


def test_think_block_before_the_answer_is_stripped():
    text = "<think>\nThe user says Safety: Safe maybe\n</think>\n\nSafety: Unsafe\nCategories: PII"
    verdict = parse_output(text, Mode.PROMPT)
    assert verdict.severity is Severity.UNSAFE
    assert verdict.categories == (Category.PII,)


def test_empty_think_block_as_in_the_template():
    verdict = parse_output("<think>\n\n</think>\n\nSafety: Safe\nCategories: None", Mode.PROMPT)
    assert verdict.severity is Severity.SAFE


def test_unclosed_think_block_fails_closed():
    verdict = parse_output("<think>Safety: Safe\nCategories: None", Mode.PROMPT)
    assert verdict.severity is None
    assert "Safety" in verdict.error


def test_extra_known_lines_are_tolerated_and_kept():
    text = "Safety: Unsafe\nCategories: Violent\nRefusal: No\nConfidence: high"
    verdict = parse_output(text, Mode.RESPONSE)
    assert verdict.severity is Severity.UNSAFE
    assert verdict.refusal is False
    assert verdict.extra == (("Confidence", "high"),)


def test_prompt_mode_drops_a_refusal_line():
    verdict = parse_output("Safety: Safe\nCategories: None\nRefusal: No", Mode.PROMPT)
    assert verdict.severity is Severity.SAFE
    assert verdict.refusal is None


def test_response_without_refusal_line_leaves_refusal_unknown():
    verdict = parse_output("Safety: Safe\nCategories: None", Mode.RESPONSE)
    assert verdict.parsed
    assert verdict.refusal is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no Safety line"),
        ("I cannot classify this.", "no Safety line"),
        ("Categories: Violent", "no Safety line"),
        ("Safety: Probably fine\nCategories: None", "unknown severity"),
        ("Safety: Unsafe", "no Categories line"),  # truncated after the first line
        ("Safety: Uns", "unknown severity"),  # truncated mid-word
        ("Safety: Unsafe\nCategories: Violence", "unknown category"),
        ("Safety: Unsafe\nCategories: Violent,, PII", "malformed categories"),
        ("Safety: Unsafe\nCategories: None, Violent", "malformed categories"),
        ("Safety: Safe\nSafety: Unsafe\nCategories: None", "conflicting Safety"),
        ("Safety: Safe\nCategories: None\nRefusal: Maybe", "unknown refusal"),
    ],
)
def test_malformed_or_truncated_output_is_never_safe(text, reason):
    verdict = parse_output(text, Mode.RESPONSE)
    assert verdict.severity is None
    assert not verdict.parsed
    assert reason in verdict.error


def test_repeated_identical_lines_are_not_a_conflict():
    verdict = parse_output("Safety: Safe\nSafety: Safe\nCategories: None", Mode.PROMPT)
    assert verdict.severity is Severity.SAFE


@pytest.mark.parametrize(
    "categories", ["Violent", "PII, Violent", "Politically Sensitive Topics", "Jailbreak"]
)
def test_safe_naming_a_category_is_a_contradiction_and_unparsed(categories):
    verdict = parse_output(f"Safety: Safe\nCategories: {categories}", Mode.PROMPT)
    assert verdict.severity is None
    assert "contradictory verdict: Safe with categories" in verdict.error
    # The policy never allows an unparsed verdict, whatever it is told about categories.
    decision = Policy(categories={"Violent": "allow", "PII": "allow"}).decide(verdict)
    assert decision.action is not Action.ALLOW


@pytest.mark.parametrize("severity", [Severity.UNSAFE, Severity.CONTROVERSIAL])
def test_unsafe_or_controversial_without_categories_keeps_its_severity(severity):
    verdict = parse_output(f"Safety: {severity.value}\nCategories: None", Mode.PROMPT)
    assert verdict.severity is severity
    assert verdict.categories == ()
    assert verdict.error is None
    assert Policy().decide(verdict).action is not Action.ALLOW
