"""The model's matmuls, fused and pre-packed for the CPU where that is verified to hold.

Decode steps multiply a few dozen rows by every weight matrix. With plain ``F.linear``
the CPU BLAS re-packs the whole weight into its blocked layout on every call, which for
so few rows costs as much as the multiply (the vocabulary projection ran at ~40% of
the machine's matmul rate). oneDNN can keep weights in that layout once and for all
(``torch.ops.mkldnn._reorder_linear_weight``, the op torch.compile's CPU backend uses);
fusing q/k/v and gate/up into one matrix each halves the number of calls again.

The packed copy costs memory (one more copy of the weights); the dense weights stay
with the Hugging Face modules, which the embedding and the reference path use. Where
oneDNN is missing, on a GPU, or in a dtype other than fp32, or when the packed result
does not match ``F.linear`` on a probe, the plain modules run instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

# Row count the packed layout is tuned for: a decode batch. Any row count works.
_ROWS_HINT = 64


def _dense(modules: Sequence[nn.Linear]) -> Callable[[Tensor], Tensor | tuple[Tensor, ...]]:
    if len(modules) == 1:
        return modules[0]
    return lambda x: tuple(module(x) for module in modules)


def _packed(modules: Sequence[nn.Linear]) -> Callable[[Tensor], Tensor | tuple[Tensor, ...]]:
    weight = torch.cat([module.weight.detach() for module in modules]).contiguous()
    biases = [module.bias for module in modules]
    bias = None
    if any(b is not None for b in biases):
        bias = torch.cat(
            [
                b.detach() if b is not None else weight.new_zeros(m.out_features)
                for b, m in zip(biases, modules, strict=True)
            ]
        )
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, _ROWS_HINT)
    sizes = [module.out_features for module in modules]

    def run(x: Tensor) -> Tensor | tuple[Tensor, ...]:
        out = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
        return out if len(sizes) == 1 else out.split(sizes, dim=-1)

    # Verify on a probe before trusting it: a wrong fast path is worse than a slow one.
    probe = torch.randn(3, weight.shape[1], dtype=weight.dtype)
    got = run(probe)
    got = got if isinstance(got, tuple) else (got,)
    for module, part in zip(modules, got, strict=True):
        torch.testing.assert_close(part, module(probe), rtol=1e-4, atol=1e-4)
    return run


def can_pack(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether packed CPU matmuls may be tried here."""
    return (
        device.type == "cpu"
        and dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    )


def make_linear(
    modules: Sequence[nn.Linear], pack: bool
) -> Callable[[Tensor], Tensor | tuple[Tensor, ...]]:
    """One call computing every module of ``modules`` on the same input (a tuple of
    outputs for several), packed when ``pack`` and the probe agrees."""
    if pack:
        try:
            return _packed(modules)
        except (RuntimeError, AssertionError) as exc:
            log.warning("packed CPU matmul unavailable, using plain linear layers: %s", exc)
    return _dense(modules)
