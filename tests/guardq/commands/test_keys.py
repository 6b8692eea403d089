import pytest
from sqlalchemy import select

from guardq.cli import main
from guardq.store.db import get_session_factory, session_scope
from guardq.store.keys import key_sha256, verify_api_key
from guardq.store.models import ApiKey

pytestmark = pytest.mark.integration


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(migrated, capsys):
    assert main(["keys", "create", "--role", "producer", "--name", "ingest"]) == 0
    captured = capsys.readouterr()
    key = captured.out.strip()
    assert captured.out == key + "\n"
    assert key.startswith("gq_")
    assert key not in captured.err
    assert "shown only now" in captured.err

    with session_scope(get_session_factory()) as session:
        row = session.scalar(select(ApiKey))
        values = [str(getattr(row, column.key)) for column in ApiKey.__table__.columns]
        assert row.key_hash == key_sha256(key)
        assert not any(key in value for value in values)
        assert verify_api_key(session=session, key=key).name == "ingest"

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ingest" in listing and "producer" in listing
    assert key not in listing


def test_keys_revoke_stops_a_key(migrated, capsys):
    assert main(["keys", "create", "--role", "reviewer", "--name", "alice"]) == 0
    key = capsys.readouterr().out.strip()
    with session_scope(get_session_factory()) as session:
        key_id = verify_api_key(session=session, key=key).id
    assert main(["keys", "revoke", str(key_id)]) == 0
    assert main(["keys", "revoke", str(key_id)]) == 1
    assert "no live key" in capsys.readouterr().err
    with session_scope(get_session_factory()) as session:
        assert verify_api_key(session=session, key=key) is None


def test_keys_revoke_names_a_malformed_id(migrated, capsys):
    assert main(["keys", "revoke", "nope"]) == 2
    assert "key_id: expected a UUID" in capsys.readouterr().err


def test_keys_create_refuses_an_unknown_role(migrated, capsys):
    with pytest.raises(SystemExit):
        main(["keys", "create", "--role", "root", "--name", "x"])
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_keys_carry_rate_limits_set_at_create_and_changed_later(migrated, capsys):
    assert main(["keys", "create", "--role", "producer", "--name", "feed", "--rpm", "60"]) == 0
    key = capsys.readouterr().out.strip()
    with session_scope(get_session_factory()) as session:
        info = verify_api_key(session=session, key=key)
    assert (info.rpm, info.ipm) == (60, None)

    assert main(["keys", "limits", str(info.id), "--ipm", "5000"]) == 0
    assert "60 requests, 5000 items per minute" in capsys.readouterr().out
    assert main(["keys", "limits", str(info.id), "--rpm", "none"]) == 0
    with session_scope(get_session_factory()) as session:
        info = verify_api_key(session=session, key=key)
    assert (info.rpm, info.ipm) == (None, 5000)
    assert main(["keys", "list"]) == 0
    assert "5000" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--rpm", "0"], "rpm: 1 to 1,000,000 per minute"),
        (["--ipm", "-5"], "ipm: 1 to 1,000,000 per minute"),
        ([], "give --rpm and/or --ipm"),
    ],
)
def test_keys_limits_names_a_bad_limit(migrated, capsys, argv, problem):
    assert main(["keys", "create", "--role", "producer", "--name", "x"]) == 0
    key = capsys.readouterr().out.strip()
    with session_scope(get_session_factory()) as session:
        key_id = verify_api_key(session=session, key=key).id
    assert main(["keys", "limits", str(key_id), *argv]) == 2
    assert problem in capsys.readouterr().err
