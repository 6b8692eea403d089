"""Defaults for the native libraries under torch, set before torch loads them.

OpenMP threads that spin at barriers between kernels steal the cores the API, Postgres
and Redis need beside a CPU engine, and a core taken by any of them stalls every
spinning thread's kernel (a decode step ran many times slower here under such load);
waiting threads that sleep cost nothing: ``OMP_WAIT_POLICY=PASSIVE``.

oneDNN keeps a cache of compiled kernels ("primitives"), one per operator and input
shape, 1,024 by default, each with its own buffers. guardq's engine calls come in as
many shapes as there are batch sizes and lengths, so the cache filled with kernels
used once: ``guardq label`` on 6,000 demo-model rows peaked at 1.37 GB of RSS, 1.10 GB
with a cache of 64 and no slower. An operator's own value wins.
"""

from __future__ import annotations

import os

NATIVE_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64"}


def cpu_threads(processes: int) -> int:
    """Each of ``processes`` engine processes' share of the cores this process may use:
    more threads than cores in all would have them preempt one another in every kernel."""
    return max(1, len(os.sched_getaffinity(0)) // processes)


def apply_native_defaults() -> None:
    """Put ``NATIVE_DEFAULTS`` in this process's environment where unset (before torch
    is imported: oneDNN reads them when it loads)."""
    for name, value in NATIVE_DEFAULTS.items():
        os.environ.setdefault(name, value)
