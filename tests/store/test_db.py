import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from guardq.settings import get_settings
from guardq.store.db import normalize_url, resolve_url, session_scope


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:p%40ss@db:5432/guardq", "postgres://u:p%40ss@db:5432/guardq"],
)
def test_postgres_urls_select_psycopg_3(url):
    assert normalize_url(url) == "postgresql+psycopg://u:p%40ss@db:5432/guardq"


def test_explicit_drivers_and_sqlite_urls_are_kept():
    assert normalize_url("postgresql+psycopg://db/x") == "postgresql+psycopg://db/x"
    assert normalize_url("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"


@pytest.fixture
def fresh_settings(monkeypatch):
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_no_url_means_the_embedded_sqlite_file_in_the_working_directory(fresh_settings, tmp_path):
    fresh_settings.delenv("GUARDQ_DATABASE_URL", raising=False)
    fresh_settings.chdir(tmp_path)
    assert resolve_url() == f"sqlite:///{tmp_path / 'guardq.sqlite3'}"


def test_configured_url_is_normalised(fresh_settings):
    fresh_settings.setenv("GUARDQ_DATABASE_URL", "postgresql://guardq@db/guardq")
    assert resolve_url() == "postgresql+psycopg://guardq@db/guardq"
    assert resolve_url("sqlite:///x.sqlite3") == "sqlite:///x.sqlite3"


def test_embedded_sqlite_enforces_foreign_keys(sqlite_factory):
    with pytest.raises(IntegrityError), session_scope(sqlite_factory) as session:
        session.execute(
            text(
                'INSERT INTO items (id, job_id, "index", content_sha256, status, '
                "created_at, updated_at) VALUES ('a', 'missing', 0, 'h', 'queued', "
                "'2026-01-01', '2026-01-01')"
            )
        )
