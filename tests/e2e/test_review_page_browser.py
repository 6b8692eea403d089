"""The reviewer page in a real browser: headless Chromium drives the real API server.

uvicorn serves ``create_app`` on a free port (in a thread) over a fresh Postgres
database; Playwright drives Debian's ``/usr/bin/chromium`` (or GUARDQ_CHROMIUM; never a
browser of its own: nothing can be downloaded here). ``make test`` installs Chromium when
it can and otherwise sets GUARDQ_SKIP_BROWSER=1, which skips this test; run by pytest
alone, a missing browser fails it.

The screenshot of the claimed item lands in ``out/e2e/review-page.png`` (git-ignored)
and in the test's tmp_path.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from api.app import create_app
from guardq.settings import REPO_ROOT, Settings
from guardq.store.db import create_db_engine, session_factory, session_scope
from guardq.store.enums import EscalationStatus, KeyRole
from guardq.store.keys import create_api_key
from guardq.store.migrate import upgrade_database
from guardq.store.reviews import claim_review, get_review, review_trail
from guardq.verdict import Category, Severity

from ..api.review_page_samples import escalate
from ..conftest import live_server

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path(os.environ.get("GUARDQ_CHROMIUM") or "/usr/bin/chromium")
# No sandbox: CI runs as root. The rest keeps Chromium off the network it cannot reach
# here (its background connections are refused and slow the start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO_ROOT / "out" / "e2e" / "review-page.png"


@pytest.fixture(scope="module")
def chromium():
    if os.environ.get("GUARDQ_SKIP_BROWSER") == "1":
        pytest.skip("GUARDQ_SKIP_BROWSER=1: the browser test is skipped on request")
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
            "make test does as root), or set GUARDQ_SKIP_BROWSER=1 to skip this test",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def database_url(make_postgres_database):
    url = make_postgres_database("guardq_test_e2e")
    upgrade_database(url)
    return url


@pytest.fixture(scope="module")
def factory(database_url):
    engine = create_db_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def server(database_url, factory):
    """The API under uvicorn on a free port; its base URL."""
    app = create_app(Settings(database_url=database_url), session_factory=factory)
    with live_server(app) as url:
        yield url


def reviewer_key(factory, name: str):
    with session_scope(factory) as session:
        return create_api_key(session=session, name=name, role=KeyRole.REVIEWER)


def log_in(page, server: str, key: str) -> None:
    """Open the page, get sent to the login form, paste the key, land on the queue."""
    page.goto(f"{server}/review")
    page.wait_for_url("**/review/login")
    page.fill("#api_key", key)
    page.click("form.login button")
    page.wait_for_url(f"{server}/review")


def test_reviewer_logs_in_claims_the_oldest_item_and_decides_it_with_the_keyboard(
    chromium, server, factory, tmp_path
):
    key = reviewer_key(factory, "alice")
    oldest = escalate(
        factory,
        "Meet at the square at noon. Bring the banners & <signs>; the rest stays calm.",
        span=(28, 55),
        scores=(0.08, 0.71, 0.21),
    )
    newer = escalate(factory, "A later, unrelated item.")

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(5_000)
    try:
        log_in(page, server, key.key)
        assert page.locator("table.queue tbody tr").count() == 2

        page.keyboard.press("j")  # claim next: the oldest under the default order
        page.wait_for_url(f"**/review/items/{oldest}?claimed=1")
        assert page.inner_text("mark#span") == "Bring the banners & <signs>"
        assert re.fullmatch(r"Lease: \d+:\d\d left to decide\.", page.inner_text("#lease"))
        assert page.is_hidden("#claim-again")

        page.keyboard.press("1")  # ticks the first category, Violent
        assert page.is_checked('input[value="Violent"]')
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(tmp_path / "review-page.png"), full_page=True)
        shutil.copyfile(tmp_path / "review-page.png", SCREENSHOT)

        page.keyboard.press("u")
        page.wait_for_url(f"{server}/review?notice=decided")
        assert "Decision recorded" in page.inner_text("p.notice")
        assert page.locator(f'tr[data-id="{oldest}"]').count() == 0
        assert page.locator(f'tr[data-id="{newer}"]').count() == 1
    finally:
        page.close()

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=oldest)
        trail = review_trail(session=session, escalation_id=oldest)
    assert view.status is EscalationStatus.RESOLVED
    assert view.decision is Severity.UNSAFE
    # The model's category came pre-ticked; the reviewer added Violent with the "1" key.
    assert view.decision_categories == (Category.VIOLENT, Category.POLITICAL)
    assert view.decided_by == key.info.id
    assert [(e.action, e.actor_key_id) for e in trail] == [
        ("escalated", None),
        ("claimed", key.info.id),
        ("resolved", key.info.id),
    ]
    assert SCREENSHOT.stat().st_size > 10_000


def test_reviewer_overrules_the_models_refusal_reading_with_the_keyboard(chromium, server, factory):
    key = reviewer_key(factory, "dave")
    escalation_id = escalate(
        factory, "Sure, here is the plan.", prompt="Help me?", refusal=True, span=None
    )

    page = chromium.new_page()
    page.set_default_timeout(5_000)
    try:
        log_in(page, server, key.key)
        # The module's database still holds other tests' open items: claim this one.
        page.goto(f"{server}/review/items/{escalation_id}")
        page.click("text=Claim to decide")
        page.wait_for_url(f"**/review/items/{escalation_id}?claimed=1")
        assert page.is_checked('input[name="refusal"][value="yes"]')  # the model's reading

        page.click('input[name="refusal"][value="yes"]')  # a focused radio keeps the keys live
        page.keyboard.press("o")
        assert page.is_checked('input[name="refusal"][value="no"]')
        page.keyboard.press("s")
        page.wait_for_url(f"{server}/review?notice=decided")
    finally:
        page.close()

    with session_scope(factory) as session:
        view = get_review(session=session, escalation_id=escalation_id)
    assert (view.decision, view.decision_refusal, view.refusal) == (Severity.SAFE, False, True)


def test_lease_countdown_runs_out_says_so_and_disables_the_decision_keys(chromium, server, factory):
    key = reviewer_key(factory, "carol")
    escalation_id = escalate(factory, "A review that takes too long.")
    # A two-second lease, taken through the store: the page's own lease is minutes long.
    with session_scope(factory) as session:
        claim_review(
            session=session,
            escalation_id=escalation_id,
            reviewer_key_id=key.info.id,
            lease=timedelta(seconds=2),
        )

    page = chromium.new_page()
    page.set_default_timeout(5_000)
    try:
        log_in(page, server, key.key)
        page.goto(f"{server}/review/items/{escalation_id}?claimed=1")
        page.wait_for_selector("#lease.expired")
        assert "Your lease has expired" in page.inner_text("#lease")
        assert page.is_disabled('button[value="Safe"]')
        assert page.is_visible("#claim-again")
        page.keyboard.press("s")
        page.wait_for_timeout(300)
        assert page.url.endswith(f"/review/items/{escalation_id}?claimed=1")
    finally:
        page.close()

    with session_scope(factory) as session:
        assert get_review(session=session, escalation_id=escalation_id).decision is None
