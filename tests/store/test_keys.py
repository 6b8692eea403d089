import pytest
from sqlalchemy import select

from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key, list_api_keys, revoke_api_key, verify_api_key
from guardq.store.models import ApiKey

pytestmark = pytest.mark.integration


def test_created_key_verifies_and_a_wrong_key_does_not(factory):
    with session_scope(factory) as session:
        created = create_api_key(session=session, name="ingest", role=KeyRole.PRODUCER)

    with session_scope(factory) as session:
        verified = verify_api_key(session=session, key=created.key)
        assert verify_api_key(session=session, key=created.key[:-1] + "x") is None
        assert verify_api_key(session=session, key="") is None
        assert verify_api_key(session=session, key="gq_" + "a" * 500) is None

    assert verified == created.info
    assert verified.role is KeyRole.PRODUCER and created.key.startswith(verified.prefix)


def test_only_the_hash_and_a_short_prefix_of_a_key_are_stored(factory):
    with session_scope(factory) as session:
        created = create_api_key(session=session, name="reviewer one", role=KeyRole.REVIEWER)

    with session_scope(factory) as session:
        row = session.scalars(select(ApiKey)).one()
        stored = [str(getattr(row, column.key)) for column in ApiKey.__table__.columns]

    assert not any(created.key in value for value in stored)
    assert len(row.prefix) < len(created.key) // 3
    assert len(row.key_hash) == 64


def test_revoked_key_no_longer_verifies(factory):
    with session_scope(factory) as session:
        created = create_api_key(session=session, name="old", role=KeyRole.ADMIN)
    with session_scope(factory) as session:
        assert revoke_api_key(session=session, key_id=created.info.id)
        assert not revoke_api_key(session=session, key_id=created.info.id)

    with session_scope(factory) as session:
        assert verify_api_key(session=session, key=created.key) is None
        [listed] = list_api_keys(session=session)
    assert listed.revoked_at is not None


def test_key_name_is_required(factory):
    with session_scope(factory) as session, pytest.raises(ValueError, match="name"):
        create_api_key(session=session, name="  ", role=KeyRole.PRODUCER)
