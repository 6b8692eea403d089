"""Two reviewers claiming one item at the same instant, through a real HTTP server.

The API runs under uvicorn on a free port (its sync routes in uvicorn's thread pool, each
request with its own Postgres connection); two clients in two threads are released
together by a barrier, so both claims are in flight at once.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.models import ReviewEvent

from ..conftest import live_server
from ..store.reviews_helpers import escalate

pytestmark = pytest.mark.integration

ROUNDS = 8


@pytest.fixture
def server(settings, factory, redis):
    with live_server(create_app(settings, session_factory=factory)) as url:
        yield url


def test_two_simultaneous_claims_one_wins_and_the_other_gets_409(server, factory, make_key):
    reviewers = [make_key(KeyRole.REVIEWER, "alice"), make_key(KeyRole.REVIEWER, "bob")]
    clients = [httpx.Client(base_url=server, headers=h, timeout=30) for h in reviewers]
    escalations = [escalate(factory, text=f"item {n}") for n in range(ROUNDS)]

    def claim(client, barrier, escalation_id):
        barrier.wait()
        return client.post(f"/v1/reviews/{escalation_id}/claim")

    outcomes = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for escalation_id in escalations:
            barrier = threading.Barrier(2)
            futures = [pool.submit(claim, c, barrier, escalation_id) for c in clients]
            outcomes.append([future.result() for future in futures])
    for client in clients:
        client.close()

    for responses in outcomes:
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()
        loser = next(r for r in responses if r.status_code == 409).json()["detail"]
        assert loser["held_by"]["name"] == winner["claimed_by"]["name"]
        assert f"{winner['claimed_by']['name']} holds it until" in loser["msg"]
    with session_scope(factory) as session:
        claims = session.scalar(
            select(func.count()).select_from(ReviewEvent).where(ReviewEvent.action == "claimed")
        )
    assert claims == ROUNDS  # the loser left no trail row
