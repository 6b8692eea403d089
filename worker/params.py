"""The engine's knobs, one typed object; a bad value fails with field, range and value."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from guardq.settings import Settings, get_settings

_RANGES = {
    # Below one long chunk plus a decode budget a batch would hold a single row.
    "max_batch_tokens": (64, 1_048_576),
    # Tests use small windows to make many items chunk; production reads GUARDQ_*.
    "chunk_tokens": (16, 32_000),
    # The answer is at most three short lines; a bound keeps a runaway decode cheap.
    "max_new_tokens": (1, 512),
}


@dataclass(frozen=True)
class EngineParams:
    """How the engine batches, chunks and decodes.

    - ``max_batch_tokens``: tokens one batch may hold, padding included: rows x (longest
      row's own tokens + ``max_new_tokens``). A unit longer than that runs alone.
    - ``chunk_tokens`` / ``chunk_overlap``: content longer than ``chunk_tokens`` tokens is
      cut into windows of that size overlapping by ``chunk_overlap`` tokens
      (``0 <= chunk_overlap < chunk_tokens // 2``).
    - ``max_new_tokens``: greedy decode stops at end-of-answer or after this many tokens.
    - ``prefix_cache``: reuse the per-mode header KV cache (off only to measure it).
    - ``drafts``: verified decoding with earlier answers as drafts (``worker.drafts``):
      the same tokens in fewer steps; off only to measure it.
    - ``ignore_eos``: decode exactly ``max_new_tokens`` tokens (benchmarks on random
      weights only; verdicts are then meaningless).
    """

    max_batch_tokens: int = 8192
    chunk_tokens: int = 2048
    chunk_overlap: int = 128
    max_new_tokens: int = 32
    prefix_cache: bool = True
    drafts: bool = True
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            expected = bool if field.type in ("bool", bool) else int
            if type(value) is not expected:
                raise ValueError(
                    f"EngineParams.{field.name}: expected {expected.__name__}, got {value!r}"
                )
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"EngineParams.{name}: must be in [{low}, {high}], got {value}")
        if not 0 <= self.chunk_overlap < self.chunk_tokens // 2:
            raise ValueError(
                f"EngineParams.chunk_overlap: must be in [0, {self.chunk_tokens // 2 - 1}] "
                f"(less than half of chunk_tokens={self.chunk_tokens}), got {self.chunk_overlap}"
            )

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: object) -> EngineParams:
        """The params the ``GUARDQ_*`` settings describe, with ``overrides`` applied."""
        settings = settings or get_settings()
        base = cls(
            max_batch_tokens=settings.max_batch_tokens,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            max_new_tokens=settings.max_new_tokens,
        )
        return replace(base, **overrides)
