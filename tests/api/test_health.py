import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from api.app import create_app
from guardq.policy import Action, Decision
from guardq.store.db import create_db_engine, session_factory, session_scope
from guardq.store.models import Item
from guardq.store.verdicts import record_verdict
from guardq.verdict import Category, Severity, Verdict

pytestmark = pytest.mark.integration


def test_healthz_is_ok_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_healthz_is_503_naming_an_unreachable_broker(settings, factory):
    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down, session_factory=factory)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "broker unreachable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down")


def test_healthz_is_503_naming_an_unreachable_database(settings, redis):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    engine = create_db_engine(url)
    down = settings.model_copy(update={"database_url": url})
    with TestClient(create_app(down, session_factory=session_factory(engine))) as client:
        response = client.get("/healthz")
        metrics = client.get("/metrics").text
    engine.dispose()
    assert response.status_code == 503
    assert response.json()["detail"] == "database unreachable"
    assert "guardq_store_up 0.0" in metrics


def families(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(family):
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for sample in family.samples
    }


def test_metrics_report_items_verdicts_latency_and_queue_depth(client, producer, factory):
    for priority in ("realtime", "realtime", "bulk"):
        body = {"priority": priority, "items": [{"text": "one"}, {"text": "two"}]}
        assert client.post("/v1/jobs", json=body, headers=producer).status_code == 202
    with session_scope(factory) as session:
        item_ids = session.scalars(select(Item.id).order_by(Item.created_at)).all()[:3]
        for item_id, latency in zip(item_ids, (20, 300, 4000), strict=True):
            record_verdict(
                session=session,
                item_id=item_id,
                verdict=Verdict(severity=Severity.UNSAFE, categories=(Category.VIOLENT,)),
                decision=Decision(Action.BLOCK, "severity Unsafe"),
                model_id="m",
                latency_ms=latency,
            )

    found = families(client)
    assert found["guardq_store_up"].samples[0].value == 1
    assert found["guardq_broker_up"].samples[0].value == 1
    assert found["guardq_items_done"].type == "counter"
    assert found["guardq_items_done"].samples[0].value == 3
    assert found["guardq_items_queued"].samples[0].value == 3
    depth = samples(found["guardq_queue_depth"])
    assert depth[("guardq_queue_depth", (("queue", "realtime"),))] == 2
    assert depth[("guardq_queue_depth", (("queue", "bulk"),))] == 1
    assert depth[("guardq_queue_depth", (("queue", "callbacks"),))] == 0
    verdicts = samples(found["guardq_verdicts"])
    assert verdicts[("guardq_verdicts_total", (("action", "block"), ("severity", "Unsafe")))] == 3
    latency = samples(found["guardq_verdict_latency_seconds"])
    assert latency[("guardq_verdict_latency_seconds_bucket", (("le", "0.025"),))] == 1
    assert latency[("guardq_verdict_latency_seconds_bucket", (("le", "0.5"),))] == 2
    assert latency[("guardq_verdict_latency_seconds_bucket", (("le", "+Inf"),))] == 3
    assert latency[("guardq_verdict_latency_seconds_count", ())] == 3
    assert latency[("guardq_verdict_latency_seconds_sum", ())] == pytest.approx(4.32)
    end_to_end = samples(found["guardq_item_latency_seconds"])
    assert end_to_end[("guardq_item_latency_seconds_count", ())] == 3
    assert 0 < end_to_end[("guardq_item_latency_seconds_sum", ())] < 60
    jobs = samples(found["guardq_jobs"])
    assert jobs[("guardq_jobs", (("status", "queued"),))] == 1
    assert sum(jobs.values()) == 3
