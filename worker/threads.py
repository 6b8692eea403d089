"""How many CPU threads one forward step gets: all of them only when it has the work.

Every matmul of a step is split across the intra-op threads, and each split costs a
wake-up and a barrier per operator. A step of a small model on a few tokens is a few
hundred operators of microseconds each, so on the CPU the splitting costs more than it
saves: on the 2-core development machine the demo model's single-text answer took
36.8 ms with both threads and 17.0 ms with one; its decode steps were faster on one
thread at every batch size up to 256 rows, and only prefills of ~1,000 tokens or more
gained from the second thread. A large model is the other way round: its steps read
hundreds of MB of weights, bandwidth that one core cannot draw alone, so even a
one-row decode step runs faster on every thread (27 vs 35 ms on the Qwen3-0.6B
shape). ``benchmarks/threads.py`` prints these figures for any model.

So a step runs on one thread when the model is small enough to sit in the caches and
the step's work (tokens x parameters) is below ``_SERIAL_WORK``; otherwise on the
configured count (``torch.get_num_threads()`` when the engine was built). GPUs are not
concerned.
"""

from __future__ import annotations

import torch
from torch import nn

# Below these, one thread: weights that fit in the caches of one core (bytes), and a
# step's multiply-accumulates (tokens x parameters).
_SMALL_MODEL_BYTES = 64 << 20
_SERIAL_WORK = 1 << 30


class StepThreads:
    """Chooses, and sets, the intra-op thread count of each forward step."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.full = torch.get_num_threads()
        params = sum(p.numel() for p in model.parameters())
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        self._params = params
        self._adaptive = device.type == "cpu" and self.full > 1 and size <= _SMALL_MODEL_BYTES

    def wanted(self, tokens: int) -> int:
        if self._adaptive and tokens * self._params < _SERIAL_WORK:
            return 1
        return self.full

    def use(self, tokens: int) -> None:
        """Set the thread count for a step over ``tokens`` tokens (a no-op if unchanged)."""
        want = self.wanted(tokens)
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)
