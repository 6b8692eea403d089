import pytest

from guardq.hashing import content_sha256
from guardq.store.cache import get_cached_verdicts, put_cached_verdict
from guardq.store.db import session_scope
from guardq.verdict import Mode, Verdict

from .samples import CONTROVERSIAL, UNSAFE

pytestmark = pytest.mark.integration

HIT, MISS = content_sha256("seen before"), content_sha256("never seen")


def put(session, digest, verdict, model_id="demo", mode=Mode.PROMPT, **kwargs):
    return put_cached_verdict(
        session=session,
        content_sha256=digest,
        model_id=model_id,
        mode=mode,
        verdict=verdict,
        **kwargs,
    )


def lookup(factory, hashes, model_id="demo", mode=Mode.PROMPT):
    with session_scope(factory) as session:
        return get_cached_verdicts(session=session, hashes=hashes, model_id=model_id, mode=mode)


def test_cached_verdict_is_a_hit_and_unknown_content_a_miss(factory):
    with session_scope(factory) as session:
        assert put(session, HIT, UNSAFE, chunk_count=3)

    found = lookup(factory, [HIT, MISS, HIT])

    assert set(found) == {HIT}
    assert found[HIT].verdict == UNSAFE and found[HIT].chunk_count == 3


def test_cache_entries_are_per_model_and_mode(factory):
    with session_scope(factory) as session:
        put(session, HIT, UNSAFE)

    assert lookup(factory, [HIT], model_id="another-model") == {}
    assert lookup(factory, [HIT], mode=Mode.RESPONSE) == {}


def test_first_cached_verdict_stands(factory):
    with session_scope(factory) as session:
        assert put(session, HIT, UNSAFE)
        assert not put(session, HIT, CONTROVERSIAL)

    assert lookup(factory, [HIT])[HIT].verdict == UNSAFE


def test_unparsed_verdict_is_not_cached(factory):
    with session_scope(factory) as session:
        assert not put(session, HIT, Verdict(severity=None, error="no Safety line"))

    assert lookup(factory, [HIT]) == {}


def test_lookup_of_many_hashes_spans_several_queries(factory):
    hashes = [content_sha256(f"text {n}") for n in range(2500)]
    with session_scope(factory) as session:
        for digest in hashes[::500]:
            put(session, digest, CONTROVERSIAL)

    assert set(lookup(factory, hashes)) == set(hashes[::500])
