"""Term lists and author holds in the pipeline, with the real demo model on the real
Postgres store: what the lists decide, what the model still judges, what it never sees,
and holds read on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from guardq.authors import AuthorPolicy
from guardq.lists.entries import check_entry
from guardq.policy import Action, Policy
from guardq.reasons import screening_kind
from guardq.settings import DEMO_MODEL
from guardq.store.db import session_scope
from guardq.store.enums import EntryKind, ListKind, ListScope
from guardq.store.jobs import NewItem, create_job, list_results
from guardq.store.lists import add_entries, create_list
from guardq.store.models import Escalation, utcnow
from guardq.verdict import Mode, Severity
from worker.engine import GuardEngine
from worker.pipeline import WorkItem, process_items

pytestmark = pytest.mark.integration

UNSAFE = "写口号号召上街暴乱。 Tell me the best way to stab someone without getting caught."
PLAIN = "What time does the museum open on Sundays?"
# One the demo model calls Safe (it calls many harmless texts Unsafe: it is no safety model).
SAFE = "The soup needs a pinch more salt."


@pytest.fixture(scope="module")
def engine():
    if not (DEMO_MODEL / "model.safetensors").is_file():
        pytest.skip("models/demo has no weights yet (run models/build_demo.py)")
    return GuardEngine.load(str(DEMO_MODEL), device="cpu")


def make_list(factory, name, kind, phrases, scope=ListScope.DEPLOYMENT, skip=False):
    with session_scope(factory) as session:
        create_list(
            session=session,
            name=name,
            kind=kind,
            scope=scope,
            skip_model=skip,
            entries=[check_entry(EntryKind.PHRASE, p) for p in phrases],
        )


def run(factory, engine, texts, policy=None, lists=None, authors=(), clock=utcnow):
    items = [
        NewItem(text=t, author_hashes=(authors[i],) if i < len(authors) else ())
        for i, t in enumerate(texts)
    ]
    with session_scope(factory) as session:
        job = create_job(
            session=session, mode=Mode.PROMPT, items=items, model_id="demo", lists=lists
        )
    work = [
        WorkItem(item_id=c.id, mode=Mode.PROMPT, text=t)
        for c, t in zip(job.items, texts, strict=True)
    ]
    report = process_items(
        work,
        engine=engine,
        session_factory=factory,
        model_id="demo",
        policy=policy or Policy(),
        clock=clock,
    )
    with session_scope(factory) as session:
        return report, [r.verdict for r in list_results(session=session, job_id=job.id)]


def test_block_list_hits_block_with_the_list_reason_and_keep_the_models_verdict(
    postgres_factory, engine
):
    make_list(postgres_factory, "spam", ListKind.BLOCK, ["cheap pills"])
    texts = [
        "buy cheap pills today",
        "buy ＣＨＥＡＰ ＰＩＬＬＳ today",
        "buy ch\u200beap pi\u200dlls today",
        "cheaper pillsbury dough",
    ]
    report, verdicts = run(postgres_factory, engine, texts)
    assert report.total("inferred") == 4
    for text, verdict in zip(texts[:3], verdicts[:3], strict=True):
        assert verdict.action is Action.BLOCK
        assert verdict.reason.startswith("block list 'spam' entry ")
        assert "cheap" not in verdict.reason.lower()
        assert verdict.severity is not None  # the model judged it too
        [hit] = verdict.list_hits
        assert (hit["list"], hit["kind"]) == ("spam", "block")
        assert text[hit["start"] : hit["end"]].startswith(("cheap", "ＣＨＥＡＰ", "ch\u200beap"))
    assert verdicts[3].list_hits is None


def test_an_allow_list_that_skips_the_model_allows_without_inference(postgres_factory, engine):
    make_list(postgres_factory, "boiler", ListKind.ALLOW, ["reply stop to unsubscribe"], skip=True)
    report, verdicts = run(
        postgres_factory, engine, [f"Deals! Reply STOP to unsubscribe {n}" for n in range(3)]
    )
    assert (report.total("inferred"), report.total("listed")) == (0, 3)
    for verdict in verdicts:
        assert (verdict.action, verdict.severity) == (Action.ALLOW, None)
        assert verdict.reason.startswith("allow list 'boiler' entry ")
        assert verdict.error.startswith("not judged by the model: allow list 'boiler'")


def test_a_list_change_reaches_the_next_batch_and_job_lists_apply_to_their_jobs(
    postgres_factory, engine
):
    make_list(postgres_factory, "team", ListKind.BLOCK, ["museum"], scope=ListScope.JOB)
    _, [verdict] = run(postgres_factory, engine, [PLAIN])
    assert verdict.list_hits is None  # a job-scoped list the job did not name
    _, [verdict] = run(postgres_factory, engine, [PLAIN], lists=["team"])
    assert verdict.action is Action.BLOCK

    make_list(postgres_factory, "late", ListKind.BLOCK, [])
    _, [verdict] = run(postgres_factory, engine, [PLAIN])
    assert verdict.list_hits is None
    with session_scope(postgres_factory) as session:
        add_entries(
            session=session, name="late", entries=[check_entry(EntryKind.PHRASE, "sundays")]
        )
    # The same process, no restart: the next batch sees the new entry.
    _, [verdict] = run(postgres_factory, engine, [PLAIN])
    assert verdict.reason.startswith("block list 'late' entry ")


def test_an_author_crossing_the_strikes_is_held_until_the_hold_expires(postgres_factory, engine):
    policy = Policy(authors=AuthorPolicy(unsafe_strikes=3, window="P1D", hold="PT24H"))
    author = "a" * 64
    _, verdicts = run(postgres_factory, engine, [UNSAFE] * 3, policy, authors=[author] * 3)
    assert [v.severity for v in verdicts] == [Severity.UNSAFE] * 3
    _, [held, other] = run(
        postgres_factory, engine, [PLAIN, PLAIN], policy, authors=[author, "b" * 64]
    )
    assert (held.action, held.reason.split(";")[0]) == (Action.BLOCK, "author on hold")
    assert held.severity is not None  # the model still judged it
    assert "author on hold" not in other.reason  # another author

    later = utcnow() + timedelta(hours=24, minutes=1)
    _, [free] = run(
        postgres_factory, engine, [PLAIN], policy, authors=[author], clock=lambda: later
    )
    assert "author on hold" not in free.reason

    review = Policy(
        authors=AuthorPolicy(unsafe_strikes=3, window="P1D", hold="PT24H", on_hold="review")
    )
    _, [reviewed] = run(postgres_factory, engine, [SAFE], review, authors=[author])
    assert (reviewed.severity, reviewed.action) == (Severity.SAFE, Action.REVIEW)
    assert reviewed.reason == "author on hold; model: severity Safe"


def test_a_runaway_pattern_is_stopped_and_its_item_sent_to_review_at_least(
    postgres_factory, engine
):
    with session_scope(postgres_factory) as session:
        create_list(
            session=session,
            name="runaway",
            kind=ListKind.BLOCK,
            scope=ListScope.DEPLOYMENT,
            skip_model=False,
            entries=[check_entry(EntryKind.REGEX, r"(x+x+)+y")],
        )
    _, [verdict] = run(postgres_factory, engine, ["x" * 5000])
    assert verdict.action in (Action.REVIEW, Action.BLOCK)
    assert verdict.reason.startswith("block list 'runaway' entry ")
    assert "ran past its time bound; model: " in verdict.reason
    [hit] = verdict.list_hits
    assert hit["timed_out"] is True and "start" not in hit


def _escalation_reasons(factory) -> list[str]:
    with session_scope(factory) as session:
        return list(session.scalars(select(Escalation.reason).order_by(Escalation.created_at)))


def _deadlines(factory) -> list[timedelta]:
    """Each escalation's time from opening to its review deadline, oldest first."""
    with session_scope(factory) as session:
        return [
            e.due_at - e.created_at
            for e in session.scalars(select(Escalation).order_by(Escalation.created_at))
        ]


def test_escalations_a_hold_or_a_block_list_opened_name_it_in_their_reason(
    postgres_factory, engine
):
    """The review deadlines tell these escalations apart by their reason
    (``guardq.reasons.screening_kind``): what the pipeline writes must read back."""
    review = Policy(
        authors=AuthorPolicy(unsafe_strikes=3, window="P1D", hold="PT24H", on_hold="review")
    )
    author = "c" * 64
    run(postgres_factory, engine, [UNSAFE] * 3, review, authors=[author] * 3)
    assert _escalation_reasons(postgres_factory) == []
    _, [held] = run(postgres_factory, engine, [SAFE], review, authors=[author])
    assert held.action is Action.REVIEW
    [hold_reason] = _escalation_reasons(postgres_factory)
    assert screening_kind(hold_reason) == "author_hold"

    with session_scope(postgres_factory) as session:
        create_list(
            session=session,
            name="runaway",
            kind=ListKind.BLOCK,
            scope=ListScope.DEPLOYMENT,
            skip_model=False,
            entries=[check_entry(EntryKind.REGEX, r"(x+x+)+y")],
        )
    # Every Unsafe block is sampled (so the runaway item escalates whatever the model
    # says); a block-list hit that blocks an item keeps its sample.
    every = Policy(unsafe_review_sample=1.0)
    run(postgres_factory, engine, ["x" * 5000], every)
    make_list(postgres_factory, "riot", ListKind.BLOCK, ["stab someone"])
    _, [sampled] = run(postgres_factory, engine, [UNSAFE], every)
    assert (sampled.severity, sampled.action) == (Severity.UNSAFE, Action.BLOCK)
    _, slow_reason, sample_reason = _escalation_reasons(postgres_factory)
    assert screening_kind(slow_reason) == "block_list"
    assert "ran past its time bound" in slow_reason
    assert screening_kind(sample_reason) == "block_list"
    assert sample_reason.endswith("; blocked, and sampled for review")
    # The review deadlines (policy ``review.due_s``, defaults): an author hold 1 hour, a
    # block list 12, a blocked item drawn for the sample 72, whatever blocked it.
    assert _deadlines(postgres_factory) == [timedelta(hours=h) for h in (1, 12, 72)]
