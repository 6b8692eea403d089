"""A store that cannot be reached: every endpoint needing it answers 503, names it, and
says when to retry. The stores here sit at closed ports (or a port that never answers);
tests/integration/test_outage.py stops the real PostgreSQL in the middle of a job."""

from __future__ import annotations

import socket
import uuid

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import text

from api.app import create_app
from api.deps import SessionDep
from api.outage import BROKER_DOWN, DATABASE_DOWN, RETRY_AFTER_S
from api.review_session import LOGIN_COOKIE, SESSION_COOKIE
from api.routes import review_login, review_page
from guardq.settings import Settings
from guardq.store.db import create_db_engine, session_factory

pytestmark = pytest.mark.integration

CLOSED_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
CLOSED_BROKER = "redis://127.0.0.1:1/0"
SOME_ID = str(uuid.uuid4())
# Each endpoint's path parameter gets an id: the store is asked before anything is found.
PATH_PARAMETERS = {"{job_id}": SOME_ID, "{escalation_id}": SOME_ID}
# Answered otherwise: /healthz names each dependency (below), the scrape reports
# guardq_store_up 0 (tests/api/test_health.py), the documents are static.
OWN_ANSWERS = {"/healthz", "/metrics", "/openapi.json", "/docs", "/redoc"}
# Routes answering in their client's error format (api.client_errors).
OPENAI_SHAPED = (
    "/v1/files",
    "/v1/batches",
    "/v1/chat/completions",
    "/v1/models",
    "/beta/litellm_basic_guardrail_api",
)
DIFY_SHAPED = "/v1/dify/"


def app_with_database(settings, url):
    engine = create_db_engine(url)
    down = settings.model_copy(update={"database_url": url})
    return create_app(down, session_factory=session_factory(engine)), engine


@pytest.fixture
def database_down(settings):
    """A client of the API whose audit store is a closed port; the broker is up."""
    app, engine = app_with_database(settings, CLOSED_DATABASE)
    with TestClient(app, headers={"Authorization": "Bearer gq_some_key"}) as client:
        yield client
    engine.dispose()


def endpoints() -> list[tuple[str, str]]:
    """(method, path) of every route of the JSON API and of the reviewer page."""
    app = create_app(Settings(database_url=CLOSED_DATABASE, broker_url=CLOSED_BROKER))
    found = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if path not in OWN_ANSWERS
    ]
    for route in (*review_login.router.routes, *review_page.router.routes):
        found += [(method, route.path) for method in sorted(route.methods)]
    return found


def assert_unavailable(response, message: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    if response.headers["content-type"].startswith("text/html"):
        assert message[1:] in response.text
    elif response.request.url.path.startswith(OPENAI_SHAPED):
        assert response.json()["error"]["message"] == message
    elif response.request.url.path.startswith(DIFY_SHAPED):
        assert response.json()["message"] == message
    else:
        assert response.json() == {"detail": message}


@pytest.mark.parametrize(("method", "path"), endpoints())
def test_every_endpoint_answers_503_naming_the_audit_store_when_it_is_down(
    database_down, method, path
):
    for name, value in PATH_PARAMETERS.items():
        path = path.replace(name, value)
    # A reviewer's session cookie and form token, so that the page asks the store too.
    database_down.cookies.set(SESSION_COOKIE, "session.gq_some_key")
    database_down.cookies.set(LOGIN_COOKIE, "nonce")
    form = {"csrf": "nonce", "api_key": "gq_some_key"} if path.startswith("/review") else None
    body = None if form else {}

    response = database_down.request(method, path, json=body, data=form, follow_redirects=False)

    assert_unavailable(response, DATABASE_DOWN)


def test_the_reviewer_page_says_the_store_is_down_as_a_page(database_down):
    database_down.cookies.set(SESSION_COOKIE, "session.gq_some_key")

    response = database_down.get("/review")

    assert response.headers["content-type"].startswith("text/html")
    assert "The audit store (PostgreSQL) is unreachable" in response.text
    assert_unavailable(response, DATABASE_DOWN)


def test_healthz_503_says_when_to_retry(database_down):
    response = database_down.get("/healthz")

    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert response.json()["detail"] == "database unreachable"


def test_healthz_answers_when_the_database_host_never_answers(settings):
    # A listening socket that never speaks: the TCP handshake succeeds and the server
    # stays silent, like a hung host. Without a connect timeout the check would hang.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/x"
        app, engine = app_with_database(settings, url)
        with TestClient(app) as client:
            response = client.get("/healthz")
        engine.dispose()

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "down (OperationalError)"


def test_a_job_the_broker_cannot_take_is_answered_503_and_marked_failed(
    settings, factory, redis, producer
):
    down = settings.model_copy(update={"broker_url": CLOSED_BROKER})
    with TestClient(create_app(down, session_factory=factory), headers=producer) as client:
        response = client.post("/v1/jobs", json={"items": [{"text": "hello"}]})
        detail = response.json()["detail"]
        # Reading the job needs only the audit store, which is up.
        status = client.get(detail["status_url"])

    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert detail["msg"].startswith(f"{BROKER_DOWN}: the job is marked failed")
    assert status.status_code == 200
    assert status.json()["status"] == "failed"


@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
def test_a_route_that_finds_redis_down_answers_503_naming_the_broker(settings, factory, flavour):
    app = create_app(settings, session_factory=factory)

    @app.get("/test/redis-sync")
    def sync_route() -> None:
        Redis.from_url(CLOSED_BROKER).ping()

    @app.get("/test/redis-asyncio")
    async def asyncio_route() -> None:
        client = AsyncRedis.from_url(CLOSED_BROKER)
        try:
            await client.ping()
        finally:
            await client.aclose()

    with TestClient(app) as client:
        response = client.get(f"/test/redis-{flavour}")

    assert_unavailable(response, BROKER_DOWN)


def test_a_database_error_that_is_no_outage_stays_a_500(settings, factory):
    app = create_app(settings, session_factory=factory)

    @app.get("/test/cancelled")
    def cancelled(session: SessionDep) -> None:
        # QueryCanceled is an OperationalError too, from a server that is up.
        session.execute(text("SET LOCAL statement_timeout = 10"))
        session.execute(text("SELECT pg_sleep(1)"))

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/test/cancelled")

    assert response.status_code == 500
