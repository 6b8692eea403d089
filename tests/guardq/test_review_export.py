import pytest

from guardq.output import parse_output
from guardq.review_export import target_answer
from guardq.verdict import Category, Mode, Severity


@pytest.mark.parametrize(
    ("decision", "categories", "mode", "refusal", "expected"),
    [
        (Severity.SAFE, (), Mode.PROMPT, None, "Safety: Safe\nCategories: None"),
        (
            Severity.UNSAFE,
            (Category.PII, Category.VIOLENT),
            Mode.PROMPT,
            None,
            "Safety: Unsafe\nCategories: Violent, PII",
        ),
        (
            Severity.CONTROVERSIAL,
            (Category.POLITICAL,),
            Mode.RESPONSE,
            False,
            "Safety: Controversial\nCategories: Politically Sensitive Topics\nRefusal: No",
        ),
        (Severity.SAFE, (), Mode.RESPONSE, True, "Safety: Safe\nCategories: None\nRefusal: Yes"),
    ],
)
def test_the_target_is_the_models_answer_format_and_parses_back_to_the_label(
    decision, categories, mode, refusal, expected
):
    answer = target_answer(decision, categories, mode, refusal)

    assert answer == expected
    parsed = parse_output(answer, mode)
    assert (parsed.severity, set(parsed.categories), parsed.refusal) == (
        decision,
        set(categories),
        refusal,
    )
