"""Where and how the model runs: the one function that picks device, dtype, padding side."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from worker.errors import DeviceError

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Placement:
    """The device, the weights' dtype, and the tokenizer's padding side."""

    device: torch.device
    dtype: torch.dtype
    # Decoder-only generation pads on the left so that every row's last token is real.
    padding_side: str = "left"
    # Why this placement was chosen when it differs from the request (e.g. CPU fallback).
    note: str | None = None


def choose_placement(device: str = "auto", dtype: str = "auto") -> Placement:
    """Resolve ``device`` (auto | cpu | cuda | cuda:N) and ``dtype`` (auto | float32 |
    bfloat16 | float16).

    ``auto`` takes cuda:0 when present, else the CPU, with a WARNING that says so. Naming
    ``cuda`` or ``cuda:N`` is a promise that the worker runs on that GPU: when CUDA is
    unavailable or N does not exist, ``DeviceError`` names the devices that do exist. A
    worker meant for a GPU that quietly came up on the CPU would be an outage that looks
    like a slow day. dtype ``auto`` is bf16 on a GPU that supports it (fp16 otherwise)
    and fp32 on the CPU, where bf16 matmuls are slow on most hardware.
    """
    requested = device.strip().lower()
    note = None
    if requested == "auto":
        if torch.cuda.is_available():
            chosen = torch.device("cuda:0")
        else:
            note = "GUARDQ_DEVICE=auto: CUDA is not available; running on the CPU"
            log.warning(note)
            chosen = torch.device("cpu")
    elif requested == "cpu":
        chosen = torch.device("cpu")
    elif requested == "cuda" or (requested.startswith("cuda:") and requested[5:].isdigit()):
        index = int(requested[5:]) if ":" in requested else 0
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise DeviceError(
                f"device {device!r} does not exist: this machine has {existing_devices(count)}",
                "set GUARDQ_DEVICE (or --devices) to one of them, or to auto to take "
                "cuda:0 when present and the CPU otherwise",
            )
        chosen = torch.device("cuda", index)
    else:
        raise DeviceError(f"device {device!r} is not a device", "use auto, cpu, cuda or cuda:N")

    wanted = dtype.strip().lower()
    if wanted == "auto":
        if chosen.type == "cuda":
            bf16 = torch.cuda.is_bf16_supported()
            chosen_dtype = torch.bfloat16 if bf16 else torch.float16
        else:
            chosen_dtype = torch.float32
    elif wanted in _DTYPES:
        chosen_dtype = _DTYPES[wanted]
    else:
        raise ValueError(f"dtype {dtype!r}: expected auto, {', '.join(_DTYPES)}")
    return Placement(device=chosen, dtype=chosen_dtype, note=note)


def existing_devices(count: int) -> str:
    """The devices of a machine with ``count`` CUDA devices, in words."""
    if count == 0:
        return "only cpu (CUDA is not available)"
    gpus = "cuda:0" if count == 1 else f"cuda:0..cuda:{count - 1}"
    return f"cpu and {count} CUDA device{'s' if count > 1 else ''} ({gpus})"
