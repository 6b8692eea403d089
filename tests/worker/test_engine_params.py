"""EngineParams: a bad knob fails at once, naming the field, its range and the value."""

from __future__ import annotations

import pytest

from guardq.settings import Settings
from worker.params import EngineParams


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("max_batch_tokens", 5, "EngineParams.max_batch_tokens: must be in [64, 1048576], got 5"),
        ("chunk_tokens", 8, "EngineParams.chunk_tokens: must be in [16, 32000], got 8"),
        ("max_new_tokens", 0, "EngineParams.max_new_tokens: must be in [1, 512], got 0"),
        ("max_new_tokens", 1000, "EngineParams.max_new_tokens: must be in [1, 512], got 1000"),
    ],
)
def test_out_of_range_value_names_field_range_and_value(field, value, expected):
    with pytest.raises(ValueError) as raised:
        EngineParams(**{field: value})
    assert str(raised.value) == expected


def test_overlap_must_be_under_half_the_window():
    with pytest.raises(ValueError, match=r"chunk_overlap: must be in \[0, 31\].*got 32"):
        EngineParams(chunk_tokens=64, chunk_overlap=32)


@pytest.mark.parametrize("field, value", [("chunk_tokens", "64"), ("prefix_cache", 1)])
def test_wrong_type_is_named(field, value):
    with pytest.raises(ValueError, match=f"EngineParams.{field}: expected"):
        EngineParams(**{field: value})


def test_defaults_come_from_settings():
    settings = Settings(max_batch_tokens=4096, chunk_tokens=512, chunk_overlap=64)
    params = EngineParams.from_settings(settings, max_new_tokens=12)
    assert (params.max_batch_tokens, params.chunk_tokens, params.chunk_overlap) == (4096, 512, 64)
    assert params.max_new_tokens == 12 and params.prefix_cache
