"""The engine's errors: each says what went wrong, where, and how to fix it.

A worker that cannot load its model must fail at start with a message an operator can
act on, not with a library's OSError from three frames deep.
"""

from __future__ import annotations


class EngineError(RuntimeError):
    """Base class of the inference engine's errors."""


class ModelLoadError(EngineError):
    """The model or its tokenizer could not be loaded from ``path``."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        # ``what`` and ``fix``: the command line's one-line error (guardq.cli_errors).
        self.what = f"cannot load model {path!r}: {problem}"
        super().__init__(f"{self.what}. Fix: {fix}")

    def __reduce__(self):
        # Rebuilt from its own arguments when it crosses from an engine process
        # (worker.inprocess); the default would pass the message alone.
        return type(self), (self.path, self.problem, self.fix)


class UnsupportedModelError(EngineError):
    """The checkpoint loads, but the engine's fast path cannot run it."""


class DeviceError(EngineError):
    """The requested device does not exist on this machine (``what``), and ``fix``."""

    def __init__(self, what: str, fix: str) -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}. Fix: {fix}")

    def __reduce__(self):
        return type(self), (self.what, self.fix)


class EngineOutOfMemoryError(EngineError):
    """The accelerator ran out of memory while loading or running the model."""

    def __init__(self, where: str, detail: str) -> None:
        self.where, self.detail = where, detail
        super().__init__(
            f"out of memory {where} ({detail}). Fix: use a smaller model (GUARDQ_MODEL), "
            "lower GUARDQ_MAX_BATCH_TOKENS (tokens per forward pass) or GUARDQ_CHUNK_TOKENS "
            "(the longest window of one item)"
        )

    def __reduce__(self):
        return type(self), (self.where, self.detail)
