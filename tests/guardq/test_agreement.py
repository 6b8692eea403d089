import pytest

from guardq.agreement import cohens_kappa, fleiss_kappa


def test_cohens_kappa_of_the_textbook_two_by_two_table():
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15. Observed 35/50 = 0.7;
    # chance 25/50*30/50 + 25/50*20/50 = 0.5; kappa (0.7-0.5)/(1-0.5) = 0.4.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohens_kappa(pairs) == pytest.approx(0.4)


def test_fleiss_kappa_of_a_small_hand_computed_set():
    # Per item agreement 1, 1/3, 1 (mean 7/9); shares 5/9 and 4/9 (chance 41/81);
    # kappa (7/9 - 41/81) / (1 - 41/81) = 22/40.
    ratings = [("U", "U", "U"), ("U", "U", "S"), ("S", "S", "S")]
    assert fleiss_kappa(ratings) == pytest.approx(0.55)


def test_kappa_is_one_for_full_agreement_and_undefined_for_a_single_class():
    assert cohens_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert cohens_kappa([("a", "a"), ("a", "a")]) is None
    assert fleiss_kappa([("a", "a", "a")]) is None
    assert cohens_kappa([]) is None


def test_fleiss_kappa_needs_the_same_number_of_raters_per_item():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([("a", "b"), ("a", "b", "b")])
