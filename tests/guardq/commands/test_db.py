import pytest
from sqlalchemy import inspect

from guardq.cli import main
from guardq.store.db import create_db_engine

pytestmark = pytest.mark.integration


def test_db_upgrade_brings_an_empty_database_to_the_latest_schema(database_url, capsys):
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "at revision head" in out
    engine = create_db_engine(database_url)
    assert {"api_keys", "jobs", "items", "verdicts"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert main(["db", "upgrade"]) == 0  # again: nothing to do, no error
