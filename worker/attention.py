"""Attention over a shared prefix plus each row's own keys, as one softmax.

Every row of a batch attends to the same header keys. Copying them into every row's
cache would cost a copy per row and, in decode, a read per row per step. Instead the
prefix part is one matmul for all rows together (the rows' queries are the M
dimension of a GEMM against the one prefix), the own part a batched matmul, and the
two are merged exactly with a shared running max (as flash / cascade attention do).
"""

from __future__ import annotations

import torch
from torch import Tensor


def attend(
    q: Tensor,
    own_k: Tensor,
    own_v: Tensor,
    own_bias: Tensor,
    prefix: tuple[Tensor, Tensor] | None,
    scaling: float,
) -> Tensor:
    """softmax(q . [prefix_k | own_k] * scaling + bias) . [prefix_v | own_v].

    - ``q``: ``[B, kv_heads, groups, Lq, D]`` (query heads grouped by their kv head)
    - ``own_k``, ``own_v``: ``[B, kv_heads, S, D]``
    - ``own_bias``: ``[B, 1, 1, Lq, S]``, 0 where a query sees a key, -inf elsewhere;
      every query must see at least one own key (its own position)
    - ``prefix``: ``(k, v)``, each ``[kv_heads, P, D]``, seen by every query; or None

    Returns ``[B, kv_heads, groups, Lq, D]``. Scores and the softmax are in float32:
    half-precision inputs are upcast first, as fused attention kernels accumulate in
    float32 too (bf16 scores would round near-ties the reference does not).
    """
    dtype = q.dtype
    if dtype != torch.float32:
        q, own_k, own_v = q.float(), own_k.float(), own_v.float()
        if prefix is not None:
            prefix = (prefix[0].float(), prefix[1].float())
    batch, kv_heads, groups, lq, dim = q.shape
    rows = groups * lq
    # Scaled once here rather than on the (far larger) score tensors.
    flat = q.reshape(batch, kv_heads, rows, dim) * scaling
    own = torch.matmul(flat, own_k.transpose(-1, -2))
    own = own.view(batch, kv_heads, groups, lq, -1).add_(own_bias)
    peak = own.amax(-1, keepdim=True)

    if prefix is not None:
        prefix_k, prefix_v = prefix
        # [kv_heads, B * groups * Lq, D]: all rows' queries against the one prefix.
        shared_q = flat.transpose(0, 1).reshape(kv_heads, batch * rows, dim)
        pre = torch.matmul(shared_q, prefix_k.transpose(-1, -2))
        pre_peak = pre.amax(-1, keepdim=True).view(kv_heads, batch, groups, lq, 1)
        peak = torch.maximum(peak, pre_peak.transpose(0, 1))
        pre.sub_(peak.transpose(0, 1).reshape(kv_heads, batch * rows, 1)).exp_()
        pre_sum = pre.sum(-1, keepdim=True).view(kv_heads, batch, groups, lq, 1).transpose(0, 1)
        pre_out = torch.matmul(pre, prefix_v)
        pre_out = pre_out.view(kv_heads, batch, groups, lq, dim).transpose(0, 1)

    own.sub_(peak).exp_()
    total = own.sum(-1, keepdim=True)
    weights = own.view(batch, kv_heads, rows, -1)
    out = torch.matmul(weights, own_v).view(batch, kv_heads, groups, lq, dim)
    if prefix is not None:
        out = out.add_(pre_out)
        total = total.add_(pre_sum)
    return out.div_(total).to(dtype)
