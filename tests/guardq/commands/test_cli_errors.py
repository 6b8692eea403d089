"""A user's mistake is one line, ``guardq: error: <what>; <how to fix>``, and exit 2;
``--debug`` or ``GUARDQ_DEBUG=1`` adds the traceback. Each case runs the real command
against the real thing that is wrong (a missing directory, a closed port, a database
without tables)."""

from __future__ import annotations

import pytest

from guardq.cli import main
from guardq.settings import get_settings
from guardq.store.db import get_session_factory

# Nothing listens on port 1: a connection is refused at once.
CLOSED_POSTGRES = "postgresql+psycopg://postgres:secret@127.0.0.1:1/guardq"
CLOSED_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch, tmp_path):
    # The embedded store lands in the working directory: keep it in tmp_path.
    monkeypatch.chdir(tmp_path)
    for name in ("GUARDQ_DEBUG", "GUARDQ_BROKER_URL", "GUARDQ_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    get_session_factory.cache_clear()
    yield
    get_settings.cache_clear()
    get_session_factory.cache_clear()


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "hello"}\n')
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("guardq: error: ")]
    assert len(errors) == 1, err
    assert err.rstrip().endswith(errors[0])
    return errors[0]


def label(rows, *extra):
    return main(
        ["label", str(rows), "-o", str(rows.with_name("out.jsonl")), "--no-progress", *extra]
    )


@pytest.mark.parametrize("engine_processes", ["1", "2"])
def test_a_missing_model_directory_is_one_line_naming_the_fix(
    rows, capsys, monkeypatch, engine_processes
):
    # With engine processes the error is raised in one of them, and crosses over whole.
    monkeypatch.setenv("GUARDQ_WORKERS_PER_DEVICE", engine_processes)
    assert label(rows, "--model", "/nonexistent/qwen3guard") == 2
    assert error_line(capsys) == (
        "guardq: error: cannot load model '/nonexistent/qwen3guard': the directory does not "
        "exist; set GUARDQ_MODEL to a checkpoint directory or a Hub id such as "
        "Qwen/Qwen3Guard-Gen-0.6B (for models/demo, build the demo model first)"
    )


def test_a_model_directory_missing_a_file_names_the_file(rows, tmp_path, capsys):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    assert label(rows, "--model", str(checkpoint)) == 2
    line = error_line(capsys)
    assert line.startswith(f"guardq: error: cannot load model '{checkpoint}': config.json")
    assert "; " in line


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("GUARDQ_MAX_BATCH_TOKENS", "lots", "GUARDQ_MAX_BATCH_TOKENS: Input should be a valid"),
        ("GUARDQ_DEVICE", "tpu", "GUARDQ_DEVICE: must be auto, cpu, cuda or cuda:N, got 'tpu'"),
        ("GUARDQ_POLICY", '{"unparsed": "allow"}', "GUARDQ_POLICY: "),
        ("GUARDQ_DEBUG", "maybe", "GUARDQ_DEBUG: Input should be a valid boolean"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    rows, monkeypatch, capsys, name, value, what
):
    monkeypatch.setenv(name, value)
    assert label(rows) == 2
    line = error_line(capsys)
    assert line.startswith(f"guardq: error: {what}")
    assert f"; set {name} to a valid value" in line


def test_a_gpu_this_machine_lacks_is_one_line_naming_the_devices(rows, monkeypatch, capsys):
    monkeypatch.setenv("GUARDQ_DEVICE", "cuda:99")
    assert label(rows) == 2
    line = error_line(capsys)
    assert line.startswith("guardq: error: device 'cuda:99' does not exist: this machine has ")
    assert "; set GUARDQ_DEVICE (or --devices) to one of them" in line


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch, capsys):
    monkeypatch.setenv("GUARDQ_DATABASE_URL", CLOSED_POSTGRES)
    assert main(["keys", "create", "--role", "producer", "--name", "ingest"]) == 2
    line = error_line(capsys)
    assert line.startswith(
        "guardq: error: cannot reach the database postgresql+psycopg://postgres:***@127.0.0.1:1"
    )
    assert "secret" not in line
    assert line.endswith("; start PostgreSQL or correct GUARDQ_DATABASE_URL")


def test_a_database_without_tables_says_to_migrate(make_postgres_database, monkeypatch, capsys):
    monkeypatch.setenv("GUARDQ_DATABASE_URL", make_postgres_database("guardq_test_unmigrated"))
    assert main(["keys", "create", "--role", "producer", "--name", "ingest"]) == 2
    line = error_line(capsys)
    assert "lacks guardq's tables" in line
    assert line.endswith("; run `guardq db upgrade` on it first")


def test_an_unreachable_broker_is_one_line(rows, migrated, monkeypatch, capsys):
    monkeypatch.setenv("GUARDQ_BROKER_URL", CLOSED_REDIS)
    get_settings.cache_clear()
    assert label(rows) == 2
    line = error_line(capsys)
    assert line.startswith("guardq: error: cannot reach the broker redis://127.0.0.1:1/0: ")
    assert line.endswith(
        "; start Redis or correct GUARDQ_BROKER_URL (unset, guardq label runs in-process)"
    )


@pytest.mark.parametrize(
    ("make", "reason", "fix"),
    [
        (lambda tmp: tmp / "missing.jsonl", "No such file or directory", "check the path"),
        (lambda tmp: tmp, "Is a directory", "name a file, not a directory"),
    ],
)
def test_an_input_file_that_cannot_be_read_is_one_line(tmp_path, capsys, make, reason, fix):
    source = make(tmp_path)
    assert main(["label", str(source), "-o", str(tmp_path / "out.jsonl")]) == 2
    assert error_line(capsys) == f"guardq: error: cannot open {source}: {reason}; {fix}"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_debug_adds_the_traceback(tmp_path, monkeypatch, capsys, how):
    argv = ["label", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "out.jsonl")]
    if how == "flag":
        argv.insert(0, "--debug")
    else:
        monkeypatch.setenv("GUARDQ_DEBUG", "1")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert "FileNotFoundError" in err
    assert err.rstrip().splitlines()[-1].startswith("guardq: error: cannot open ")


def test_a_bug_keeps_its_traceback(monkeypatch):
    # Not a user's mistake: nothing to explain, so it propagates with its traceback.
    def broken(_args):
        raise KeyError("a bug")

    monkeypatch.setattr("guardq.commands.keys.run_create", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["keys", "create", "--role", "producer", "--name", "ingest"])
