import pytest

from guardq.verdict import Category, Severity, sorted_categories


def test_severity_is_ordered_safe_controversial_unsafe():
    assert Severity.SAFE < Severity.CONTROVERSIAL < Severity.UNSAFE
    assert Severity.UNSAFE > Severity.CONTROVERSIAL > Severity.SAFE
    assert Severity.CONTROVERSIAL >= Severity.SAFE and Severity.SAFE <= Severity.SAFE
    assert sorted(Severity, reverse=True) == [
        Severity.UNSAFE,
        Severity.CONTROVERSIAL,
        Severity.SAFE,
    ]
    assert max(Severity.SAFE, Severity.CONTROVERSIAL) is Severity.CONTROVERSIAL
    assert max([Severity.CONTROVERSIAL, Severity.UNSAFE, Severity.SAFE]) is Severity.UNSAFE


def test_category_strings_are_the_official_ones_in_order():
    assert [c.value for c in Category] == [
        "Violent",
        "Non-violent Illegal Acts",
        "Sexual Content or Sexual Acts",
        "PII",
        "Suicide & Self-Harm",
        "Unethical Acts",
        "Politically Sensitive Topics",
        "Copyright Violation",
        "Jailbreak",
    ]


def test_category_lookup_is_whole_string_not_substring():
    assert Category.from_label("violent") is Category.VIOLENT
    with pytest.raises(ValueError, match="unknown category 'Illegal Acts'"):
        Category.from_label("Illegal Acts")


def test_sorted_categories_dedups_in_official_order():
    got = sorted_categories([Category.JAILBREAK, Category.PII, Category.VIOLENT, Category.PII])
    assert got == (Category.VIOLENT, Category.PII, Category.JAILBREAK)
