"""``guardq beat`` and ``guardq worker --beat``: Celery beat sends the retention purge."""

import sys
from pathlib import Path

from guardq.cli import main
from guardq.commands.worker import worker_commands
from guardq.queue import CALLBACKS, PURGE_RETAINED_TEXT, make_celery
from guardq.settings import Settings, get_settings


def test_the_purge_is_scheduled_every_interval_on_the_model_free_queue():
    app = make_celery(Settings(broker_url="redis://127.0.0.1:6379/15", purge_interval_s=600))

    [entry] = app.conf.beat_schedule.values()
    assert entry["task"] == PURGE_RETAINED_TEXT
    assert entry["schedule"] == 600.0
    # A purge nobody ran within the interval is dropped, not queued up behind the next.
    assert entry["options"]["expires"] == 600.0
    assert app.conf.task_routes[PURGE_RETAINED_TEXT]["queue"] == CALLBACKS


def test_worker_beat_adds_one_celery_beat_process_beside_the_workers():
    schedule = Path("/tmp/beat-schedule")
    plans = worker_commands(
        ["cpu"], ["realtime"], name="g", loglevel="INFO", callbacks=True, beat_schedule=schedule
    )

    argvs = [argv for _, argv in plans]
    assert len(argvs) == 3
    assert argvs[-1] == [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(schedule),
    ]
    without = worker_commands(["cpu"], ["realtime"], name="g", loglevel="INFO", callbacks=True)
    assert all("beat" not in argv for _, argv in without)


def test_beat_without_a_broker_says_which_variable_is_missing(monkeypatch, capsys):
    monkeypatch.delenv("GUARDQ_BROKER_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["beat"]) == 2
    finally:
        get_settings.cache_clear()
    assert "GUARDQ_BROKER_URL is not set" in capsys.readouterr().err
