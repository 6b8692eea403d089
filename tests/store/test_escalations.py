from datetime import timedelta

import pytest
from sqlalchemy import update

from guardq.store.db import session_scope
from guardq.store.escalations import get_escalation, list_escalations, purge_retained_text
from guardq.store.models import Escalation, utcnow
from guardq.store.verdicts import record_verdict

from .samples import CONTROVERSIAL, REVIEW, make_job

pytestmark = pytest.mark.integration


def escalate(factory, texts):
    job = make_job(factory, texts)
    ids = []
    with session_scope(factory) as session:
        for item, text in zip(job.items, texts, strict=True):
            outcome = record_verdict(
                session=session,
                item_id=item.id,
                verdict=CONTROVERSIAL,
                decision=REVIEW,
                model_id="demo",
                review_text=text,
            )
            ids.append(outcome.escalation_id)
    return ids


def test_open_escalations_list_oldest_first(factory):
    ids = escalate(factory, ["first", "second", "third"])

    with session_scope(factory) as session:
        listed = list_escalations(session=session, limit=2)

    assert [e.id for e in listed] == ids[:2]
    assert [e.item_index for e in listed] == [0, 1]


def test_retained_text_is_purged_after_its_deadline_only(factory):
    due, later, undecided = escalate(factory, ["due", "later", "undecided"])
    now = utcnow()
    with session_scope(factory) as session:
        for escalation_id, deadline in (
            (due, now - timedelta(seconds=1)),
            (later, now + timedelta(days=1)),
        ):
            session.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id)
                .values(purge_after=deadline)
            )

    with session_scope(factory) as session:
        assert purge_retained_text(session=session, now=now) == 1
        assert purge_retained_text(session=session, now=now) == 0
        texts = [
            get_escalation(session=session, escalation_id=i).text for i in (due, later, undecided)
        ]

    assert texts == [None, "later", "undecided"]
