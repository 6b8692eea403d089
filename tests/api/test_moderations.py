import uuid

import pytest

from api.openai_compat import accepts_model, moderation_result, public_model_name
from guardq.policy import Action
from guardq.settings import DEMO_MODEL
from guardq.store.enums import ItemStatus
from guardq.store.jobs import ItemResult
from guardq.store.verdicts import StoredVerdict
from guardq.verdict import Category, Severity, SeverityScores

pytestmark = pytest.mark.integration


def test_a_moderation_not_judged_in_time_is_504_with_a_job_to_poll(client, producer):
    response = client.post("/v1/moderations", json={"input": ["first", "second"]}, headers=producer)
    assert response.status_code == 504
    detail = response.json()["detail"]
    assert "GUARDQ_MODERATION_TIMEOUT_S" in detail["msg"]
    job = client.get(detail["status_url"], headers=producer).json()
    assert (job["id"], job["total"], job["priority"]) == (detail["job_id"], 2, "realtime")


@pytest.mark.parametrize(
    "model", [None, "omni-moderation-latest", "text-moderation-stable", "demo"]
)
def test_openai_model_names_and_the_served_model_are_accepted(model):
    assert accepts_model(model, str(DEMO_MODEL))


def test_a_local_model_directory_is_shown_by_its_name():
    assert public_model_name(str(DEMO_MODEL)) == "demo"
    assert public_model_name("Qwen/Qwen3Guard-Gen-4B") == "Qwen/Qwen3Guard-Gen-4B"


def row(severity, categories, action, scores=None):
    verdict = StoredVerdict(
        severity=severity,
        categories=tuple(categories),
        refusal=None,
        scores=scores,
        span=None,
        action=action,
        reason="r",
        model_id="m",
        model_revision=None,
        chunk_count=1,
        latency_ms=None,
        served_from_cache=False,
        error=None,
        created_at=None,
    )
    return ItemResult(uuid.uuid4(), 0, None, "0" * 64, None, ItemStatus.DONE, None, verdict)


def test_every_category_is_reported_and_a_named_one_scores_one_minus_p_safe():
    scores = SeverityScores(safe=0.1, controversial=0.3, unsafe=0.6)
    result = moderation_result(row(Severity.UNSAFE, [Category.PII], Action.BLOCK, scores))
    assert result.flagged
    assert set(result.categories) == {category.value for category in Category}
    assert [name for name, on in result.categories.items() if on] == ["PII"]
    assert result.category_scores["PII"] == pytest.approx(0.9)
    assert result.category_scores["Violent"] == 0.0


def test_flagged_follows_the_policy_action_and_an_unparsed_verdict_is_flagged():
    allowed = moderation_result(row(Severity.CONTROVERSIAL, [Category.POLITICAL], Action.ALLOW))
    assert not allowed.flagged
    assert allowed.category_scores["Politically Sensitive Topics"] == 1.0
    assert moderation_result(row(None, [], Action.REVIEW)).flagged
