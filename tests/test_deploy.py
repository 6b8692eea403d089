"""docker-compose.yml and the Dockerfile: Docker does not run here, so these check what
can be checked without it (the compose file's structure, and `config` where a compose
binary exists)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_has_every_service_of_the_design(compose):
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "migrate",
        "api",
        "worker",
        "beat",
        "flower",
    }
    assert set(compose["volumes"]) >= {"pgdata", "models"}


def test_services_start_in_order_gated_on_health_and_migration(compose):
    services = compose["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["guardq", "db", "upgrade"]
    for name in ("api", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]


def test_one_beat_schedules_the_retention_purge_for_the_workers(compose):
    beat = compose["services"]["beat"]
    assert beat["command"] == ["guardq", "beat"]
    assert "deploy" not in beat  # no GPU, no replicas: one clock per deployment
    assert {"GUARDQ_REVIEW_RETENTION", "GUARDQ_REVIEW_LEASE_S"} <= set(compose["x-guardq-env"])
    # The workers' callbacks process (started by default) is the one that runs the purge.
    assert "--no-callbacks" not in compose["services"]["worker"]["command"]


def test_worker_reserves_gpus_and_caches_models(compose):
    worker = compose["services"]["worker"]
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["capabilities"] == ["gpu"]
    assert any(volume.startswith("models:") for volume in worker["volumes"])
    assert "GUARDQ_MODEL" in compose["x-guardq-env"]


def test_secrets_are_required_not_defaulted():
    text = COMPOSE.read_text(encoding="utf-8")
    assert "${POSTGRES_PASSWORD:?" in text
    assert "GUARDQ_FLOWER_PASSWORD: ${FLOWER_PASSWORD:?" in text


def test_flower_runs_guardq_flower_on_the_workers_broker(compose):
    flower = compose["services"]["flower"]
    assert flower["command"][:2] == ["guardq", "flower"]
    assert (
        flower["environment"]["GUARDQ_BROKER_URL"] == compose["x-guardq-env"]["GUARDQ_BROKER_URL"]
    )


def _compose_command():
    if os.environ.get("GUARDQ_SKIP_COMPOSE") == "1":
        return None
    if os.environ.get("GUARDQ_COMPOSE"):
        # The command make test found (scripts/test.sh), e.g. "docker compose".
        command = os.environ["GUARDQ_COMPOSE"].split()
        return command if shutil.which(command[0]) else None
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


@pytest.mark.skipif(
    _compose_command() is None,
    reason="no docker compose binary on this machine (apt-get install -y docker-compose)",
)
def test_compose_config_validates_and_fails_fast_without_secrets():
    command = [*_compose_command(), "-f", str(COMPOSE), "config", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "FLOWER_PASSWORD")}
    missing = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode != 0
    assert "POSTGRES_PASSWORD" in missing.stderr or "FLOWER_PASSWORD" in missing.stderr
    env.update(POSTGRES_PASSWORD="pw", FLOWER_PASSWORD="pw")
    ok = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
