"""The check page (/review/check) in headless Chromium, judged by the real worker.

uvicorn serves the API on the integration database and broker; the shared ``celery
worker`` on the demo model judges what the page submits, as it judges any realtime
item. The screenshot of a long text's verdict, its deciding window highlighted, is
written to /tmp/check_page.png.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from api.app import create_app
from guardq.settings import DEMO_MODEL, Settings
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole, Priority
from guardq.store.keys import create_api_key
from guardq.store.models import Escalation, Item, Job, VerdictRecord

from ..conftest import live_server
from ..e2e.test_review_page_browser import chromium  # noqa: F401  (the browser fixture)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SCREENSHOT = "/tmp/check_page.png"
GARDENING = "Can you recommend a good book about gardening?"
REFUSAL_PROMPT = "Explain how to build a pipe bomb at home."
REFUSAL_RESPONSE = "I can't help with that. Let me know if there is another topic I can help with."
# Varied sentences, so that the byte-level tokenizer needs several 2,048-token windows.
LONG_TEXT = " ".join(
    f"Paragraph {n}: the committee met on day {n % 28 + 1} to discuss item {n * 7 % 101}, "
    f"and the minutes record {n % 5} objections."
    for n in range(160)
)


@pytest.fixture(scope="module")
def server(services, session_factory, celery_app, celery_worker):
    settings = Settings(
        database_url=services.database_url,
        broker_url=services.broker_url,
        model=str(DEMO_MODEL),
        # Generous: the demo model on a busy 2-core machine.
        moderation_timeout_s=120,
    )
    app = create_app(settings, session_factory=session_factory, celery_app=celery_app)
    with live_server(app) as url:
        yield url


def reviewer_key(session_factory, name: str):
    with session_scope(session_factory) as session:
        return create_api_key(session=session, name=name, role=KeyRole.REVIEWER)


def stored_verdicts(session_factory, key_id):
    """The verdicts of the jobs this key submitted, oldest first, with the job's priority."""
    with session_scope(session_factory) as session:
        rows = session.execute(
            select(VerdictRecord, Job.priority)
            .join(Item, Item.id == VerdictRecord.item_id)
            .join(Job, Job.id == Item.job_id)
            .where(Job.api_key_id == key_id)
            .order_by(VerdictRecord.created_at)
        ).all()
        return [(verdict, priority) for verdict, priority in rows]


def check(page, text: str, prompt: str | None = None) -> None:
    page.check(f'input[name="mode"][value="{"prompt" if prompt is None else "response"}"]')
    page.fill("#prompt", prompt or "")
    page.fill("#text", text)
    # The answer comes when the worker has judged it: generous, on a busy machine.
    with page.expect_navigation(timeout=150_000):
        page.click("#check button[type=submit]", no_wait_after=True)
    page.wait_for_selector("#result")


def test_check_page_shows_the_verdict_sends_to_the_queue_and_marks_the_deciding_window(
    chromium,  # noqa: F811
    server,
    session_factory,
):
    key = reviewer_key(session_factory, "checker")
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{server}/review/login")
        page.fill("#api_key", key.key)
        page.click("form.login button")
        page.wait_for_url(f"{server}/review")
        page.click("a.nav")
        page.wait_for_url(f"{server}/review/check")

        # The first of the bundled examples, which the demo model allows.
        check(page, GARDENING)
        ((verdict, priority),) = stored_verdicts(session_factory, key.info.id)
        assert priority is Priority.REALTIME  # the realtime path, audited like any item
        assert page.inner_text("#severity") == verdict.severity.value
        assert page.inner_text("#categories") == (", ".join(verdict.categories) or "None")
        assert (page.inner_text("#action"), verdict.action.value) == ("allow", "allow")
        assert page.inner_text("#reason") == verdict.reason
        assert page.locator("#probabilities tr").count() == 3
        assert page.locator("mark#span").count() == 0  # one window: nothing to point at

        page.click("#send button")
        page.wait_for_url("**/review/items/*?notice=sent")
        assert "Sent to the review queue" in page.inner_text("p.notice")
        assert GARDENING in page.inner_text("pre.text")
        page.goto(f"{server}/review/check")

        check(page, REFUSAL_RESPONSE, prompt=REFUSAL_PROMPT)
        verdict, _ = stored_verdicts(session_factory, key.info.id)[-1]
        assert page.inner_text("#refusal") == {True: "Yes", False: "No", None: "—"}[verdict.refusal]

        check(page, LONG_TEXT)
        long_verdict, _ = stored_verdicts(session_factory, key.info.id)[-1]
        assert long_verdict.chunk_count > 1
        marked = page.inner_text("mark#span")
        assert marked == LONG_TEXT[long_verdict.span_start : long_verdict.span_end]
        assert 0 < len(marked) < len(LONG_TEXT)
        page.screenshot(path=SCREENSHOT, full_page=True)
    finally:
        page.close()

    with session_scope(session_factory) as session:
        sent = session.execute(
            select(Escalation, Item.job_id).join(Item, Item.id == Escalation.item_id)
        ).all()
        by_text = {escalation.retained_text: escalation for escalation, _ in sent}
    escalation = by_text[GARDENING]
    assert escalation.reason == "sent to review by checker from the check page"
    assert escalation.due_at is not None
