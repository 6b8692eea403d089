"""A long-running process's start-up objects, kept out of the garbage collector's way.

A worker that has loaded torch, transformers and a model holds about half a million
Python objects, and a full collection walks every one of them with every thread
stopped: ~0.3 s on the 2-core development machine, during which the engine, the
writer thread and any realtime answer all wait. CPython runs one whenever enough new
objects have survived (a few hundred moderated items are enough), so a bulk call paid
it on its first commit and realtime answers in its p99. The start-up objects (modules,
the model, the tokenizer, the app) live as long as the process; ``gc.freeze()`` moves
them to a generation the collector never walks, and later collections walk only what
was made since.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect start-up garbage once, then keep every object alive now out of later
    collections; how many objects are kept out. Call it once a server process is ready
    to serve, never per request: what it freezes is never freed."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
