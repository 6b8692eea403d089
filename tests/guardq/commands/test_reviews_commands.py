"""``guardq export-reviews`` and ``guardq reviews purge|stats`` on a real Postgres store."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from guardq.cli import main
from guardq.store.db import get_session_factory, session_scope
from guardq.store.models import Escalation, VerdictRecord
from guardq.store.reviews import get_review
from guardq.verdict import Category, Severity

from ...conftest import empty_tables
from ...store import reviews_helpers
from ...store.reviews_helpers import RETENTION, escalate, reviewer

pytestmark = pytest.mark.integration


@pytest.fixture
def factory(migrated):
    factory = get_session_factory()
    yield factory
    empty_tables(factory.kw["bind"])


def decide(factory, escalation_id, decision, categories=(), retention=RETENTION, refusal=None):
    key_id = reviewer(factory, f"r-{escalation_id.hex[:6]}")
    reviews_helpers.decide(
        factory, escalation_id, key_id, decision, categories, retention=retention, refusal=refusal
    )


def exported(out):
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_export_writes_decided_items_with_text_as_qwen3guard_training_pairs(
    factory, tmp_path, capsys
):
    prompt_item = escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="how to hurt")
    response_item = escalate(
        factory, Severity.CONTROVERSIAL, Category.PII, text="call 555-0100", prompt="number?"
    )
    safe_item = escalate(factory, Severity.CONTROVERSIAL, Category.POLITICAL, text="an opinion")
    ref_only = escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="x", retain=False)
    escalate(factory, text="undecided")
    decide(factory, prompt_item, Severity.UNSAFE, [Category.PII, Category.VIOLENT])
    decide(factory, response_item, Severity.UNSAFE, [Category.PII])
    decide(factory, safe_item, Severity.SAFE)
    decide(factory, ref_only, Severity.SAFE)
    out = tmp_path / "labels.jsonl"

    assert main(["export-reviews", "-o", str(out)]) == 0

    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_id = {row["escalation_id"]: row for row in rows}
    # Not the undecided item, not the one without text, and not the response, whose
    # refusal neither the model nor the reviewer gave.
    assert set(by_id) == {str(prompt_item), str(safe_item)}
    assert by_id[str(prompt_item)]["messages"] == [{"role": "user", "content": "how to hurt"}]
    # Categories in the official order, whatever order the reviewer gave.
    assert by_id[str(prompt_item)]["target"] == "Safety: Unsafe\nCategories: Violent, PII"
    assert by_id[str(safe_item)]["target"] == "Safety: Safe\nCategories: None"
    assert by_id[str(safe_item)]["model_severity"] == "Controversial"
    err = capsys.readouterr().err
    assert "wrote 2 training pair(s)" in err
    assert "skipped 1 (response whose refusal is unknown)" in err
    assert not list(tmp_path.glob("*.partial"))


def test_export_of_a_response_item_adds_the_models_refusal_line(factory, tmp_path):
    escalation_id = escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="a", prompt="q")
    with session_scope(factory) as session:
        verdict_id = session.scalar(
            select(Escalation.verdict_id).where(Escalation.id == escalation_id)
        )
        session.execute(
            update(VerdictRecord).where(VerdictRecord.id == verdict_id).values(refusal=True)
        )
    decide(factory, escalation_id, Severity.SAFE)
    out = tmp_path / "labels.jsonl"

    assert main(["export-reviews", "-o", str(out)]) == 0

    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["target"] == "Safety: Safe\nCategories: None\nRefusal: Yes"
    assert row["mode"] == "response"


def test_export_takes_the_reviewers_refusal_over_the_models(factory, tmp_path):
    escalation_id = escalate(
        factory, Severity.UNSAFE, Category.VIOLENT, text="a", prompt="q", refusal=True
    )
    decide(factory, escalation_id, Severity.UNSAFE, [Category.VIOLENT], refusal=False)
    out = tmp_path / "labels.jsonl"

    assert main(["export-reviews", "-o", str(out)]) == 0

    [row] = exported(out)
    assert row["target"] == "Safety: Unsafe\nCategories: Violent\nRefusal: No"


def test_export_includes_a_response_the_model_left_unknown_once_the_reviewer_judged_refusal(
    factory, tmp_path, capsys
):
    judged = escalate(factory, Severity.CONTROVERSIAL, Category.PII, text="no.", prompt="q")
    unjudged = escalate(factory, Severity.CONTROVERSIAL, Category.PII, text="ok", prompt="q")
    decide(factory, judged, Severity.SAFE, refusal=True)
    decide(factory, unjudged, Severity.SAFE)
    out = tmp_path / "labels.jsonl"

    assert main(["export-reviews", "-o", str(out)]) == 0

    [row] = exported(out)
    assert row["escalation_id"] == str(judged)
    assert row["target"] == "Safety: Safe\nCategories: None\nRefusal: Yes"
    err = capsys.readouterr().err
    assert "wrote 1 training pair(s)" in err
    assert "skipped 1 (response whose refusal is unknown)" in err


def test_export_reports_what_it_skipped_and_an_empty_export(factory, tmp_path, capsys):
    response_item = escalate(factory, Severity.UNSAFE, Category.PII, text="a", prompt="q")
    decide(factory, response_item, Severity.UNSAFE, [Category.PII])
    out = tmp_path / "labels.jsonl"

    assert main(["export-reviews", "-o", str(out)]) == 0

    assert out.read_text(encoding="utf-8") == ""
    err = capsys.readouterr().err
    assert "wrote 0 training pair(s)" in err
    assert "skipped 1 (response whose refusal is unknown)" in err
    assert "no decided item with retained text" in err


def test_export_names_a_missing_output_directory(factory, tmp_path, capsys):
    assert main(["export-reviews", "-o", str(tmp_path / "nowhere" / "labels.jsonl")]) == 2
    assert "-o: directory" in capsys.readouterr().err


def test_reviews_purge_clears_due_text_and_keeps_hash_and_decision(factory, capsys):
    due = escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="old")
    kept = escalate(factory, Severity.UNSAFE, Category.VIOLENT, text="recent")
    decide(factory, due, Severity.UNSAFE, [Category.VIOLENT], retention=timedelta(0))
    decide(factory, kept, Severity.UNSAFE, [Category.VIOLENT])

    assert main(["reviews", "purge"]) == 0

    assert "purged the retained text of 1 reviewed item(s)" in capsys.readouterr().err
    with session_scope(factory) as session:
        purged = get_review(session=session, escalation_id=due)
        untouched = get_review(session=session, escalation_id=kept)
    assert (purged.text, purged.decision, purged.content_sha256 != "") == (
        None,
        Severity.UNSAFE,
        True,
    )
    assert untouched.text == "recent"


def test_reviews_stats_prints_the_queue_and_agreement(factory, capsys):
    agreed = escalate(factory, Severity.UNSAFE, Category.VIOLENT)
    escalate(factory)
    decide(factory, agreed, Severity.UNSAFE, [Category.VIOLENT])

    assert main(["reviews", "stats"]) == 0

    out = capsys.readouterr().out
    assert "open 1  claimed 0  resolved 1" in out
    assert "agreement with the model: 1/1 (100%)" in out
    assert "Violent: 1/1 (100%)" in out
    assert "between reviewers" not in out  # no item had two decisions
    assert "overdue 0" in out


def test_reviews_stats_prints_the_kappa_between_reviewers(factory, capsys):
    alice, bob = reviewer(factory, "k-alice"), reviewer(factory, "k-bob")
    for label in ((Severity.UNSAFE, [Category.VIOLENT]), (Severity.SAFE, [])):
        escalation_id = escalate(factory, Severity.UNSAFE, Category.VIOLENT, decisions=2)
        reviews_helpers.decide(factory, escalation_id, alice, *label)
        reviews_helpers.decide(factory, escalation_id, bob, *label)

    assert main(["reviews", "stats"]) == 0

    out = capsys.readouterr().out
    assert "between reviewers: cohen kappa 1.00 (2 items, 2 reviewers each)" in out
    assert "  Violent: cohen kappa 1.00 (2 items, 2 reviewers each)" in out
