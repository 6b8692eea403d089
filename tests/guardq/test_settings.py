from datetime import timedelta

import pytest
from pydantic import ValidationError

from guardq.policy import Action
from guardq.settings import DEMO_MODEL, Settings
from guardq.verdict import Category


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("GUARDQ_"):
            monkeypatch.delenv(name)


def test_defaults_run_the_demo_model_without_services():
    settings = Settings()
    assert settings.model == str(DEMO_MODEL)
    assert settings.database_url is None and settings.broker_url is None
    assert settings.device == "auto"
    assert settings.review_retention == timedelta(days=7)


def test_values_come_from_guardq_variables(monkeypatch):
    monkeypatch.setenv("GUARDQ_MODEL", "Qwen/Qwen3Guard-Gen-4B")
    monkeypatch.setenv("GUARDQ_DEVICE", "CUDA:1")
    monkeypatch.setenv("GUARDQ_MAX_BATCH_TOKENS", "16384")
    monkeypatch.setenv("GUARDQ_REVIEW_RETENTION", "P3D")
    policy = '{"controversial": "strict", "categories": {"PII": "review"}}'
    monkeypatch.setenv("GUARDQ_POLICY", policy)
    settings = Settings()
    assert settings.model == "Qwen/Qwen3Guard-Gen-4B"
    assert settings.device == "cuda:1"
    assert settings.max_batch_tokens == 16384
    assert settings.review_retention == timedelta(days=3)
    assert settings.policy.controversial == "strict"
    assert settings.policy.categories == {Category.PII: Action.REVIEW}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GUARDQ_DEVICE", "tpu", "cuda:N"),
        ("GUARDQ_MAX_BATCH_TOKENS", "10", "greater than or equal to 256"),
        ("GUARDQ_CHUNK_OVERLAP", "5000", "less than half of GUARDQ_CHUNK_TOKENS"),
        ("GUARDQ_POLICY", "{not json", "GUARDQ_POLICY is not valid JSON"),
        ("GUARDQ_POLICY", '{"categories": {"Violence": "block"}}', "unknown category"),
        ("GUARDQ_DTYPE", "int3", "float32"),
    ],
)
def test_bad_values_fail_at_start_naming_the_problem(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_callback_allow_is_a_comma_separated_list_checked_at_start(monkeypatch):
    monkeypatch.setenv("GUARDQ_CALLBACK_ALLOW", " 10.1.0.0/16, hooks.internal ,.corp")
    allowed = Settings().outbound_allowed
    assert [str(n) for n in allowed.networks] == ["10.1.0.0/16"]
    assert allowed.hosts == ("hooks.internal", ".corp")
    monkeypatch.setenv("GUARDQ_CALLBACK_ALLOW", "10.1.0.0/16,http://x")
    with pytest.raises(ValidationError, match="'http://x' is neither a network"):
        Settings()


def test_an_alert_url_needs_a_signing_secret_of_16_characters(monkeypatch):
    monkeypatch.setenv("GUARDQ_ALERT_URL", "https://alerts.example.com/guardq")
    with pytest.raises(ValidationError, match="GUARDQ_ALERT_URL needs GUARDQ_SIGNING_SECRET"):
        Settings()
    monkeypatch.setenv("GUARDQ_SIGNING_SECRET", "short")
    with pytest.raises(ValidationError, match="signing_secret"):
        Settings()
    monkeypatch.setenv("GUARDQ_SIGNING_SECRET", "a-long-enough-secret")
    settings = Settings()
    assert settings.alert_url == "https://alerts.example.com/guardq"
    assert "a-long-enough-secret" not in repr(settings)
    monkeypatch.setenv("GUARDQ_ALERT_URL", "alerts.example.com")
    with pytest.raises(ValidationError, match="absolute http"):
        Settings()


def test_empty_alert_settings_are_unset(monkeypatch):
    for name in ("GUARDQ_ALERT_URL", "GUARDQ_SIGNING_SECRET", "GUARDQ_CALLBACK_ALLOW"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert settings.alert_url is None and settings.signing_secret is None
    assert settings.callback_allow == ()
