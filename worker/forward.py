"""The model's forward pass, run from its own modules with guardq's KV-cache layout.

The weights, norms, activation and rotary tables are the loaded Hugging Face model's
own; only the cache layout, attention and the packing of matmuls are ours, because the
batch shape we need is one the generic ``forward`` cannot express cheaply: a header KV
cache shared by all rows without copies, rows of different lengths packed back to back
through every linear layer (no padding there), attention per group of similar length,
and logits only where a token is chosen (each row's last prompt position, then each
decode step), since the vocabulary projection is the largest matmul of the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedModel

from worker.attention import attend
from worker.errors import UnsupportedModelError
from worker.kv import BatchState, GroupKV, PrefixKV
from worker.linears import can_pack, make_linear
from worker.threads import StepThreads

SUPPORTED = ("qwen3",)
# Scores of one attention call are bounded to this many floats (1 GiB in fp32); a
# larger group runs its prefill attention a few rows at a time.
_SCORE_BUDGET = 1 << 28


@dataclass(frozen=True)
class LayerOps:
    """One decoder layer's matmuls: fused q/k/v, o, fused gate/up, down."""

    qkv: Callable
    o: Callable
    gate_up: Callable
    down: Callable


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Forward:
    """Prefill and decode steps of a loaded Qwen3 causal LM."""

    def __init__(self, model: PreTrainedModel) -> None:
        config = model.config
        if config.model_type not in SUPPORTED:
            raise UnsupportedModelError(
                f"model type {config.model_type!r} is not supported by the engine "
                f"(supported: {', '.join(SUPPORTED)}); Qwen3Guard-Gen checkpoints are qwen3"
            )
        if getattr(config, "use_sliding_window", False) or any(
            kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()
        ):
            raise UnsupportedModelError("sliding-window attention is not supported by the engine")
        self.model = model
        self.base = model.model
        self.layers = list(self.base.layers)
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.groups = self.heads // self.kv_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.scaling = self.layers[0].self_attn.scaling
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.threads = StepThreads(model, self.device)
        pack = can_pack(self.device, self.dtype)
        self._ops = []
        for layer in self.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self._ops.append(
                LayerOps(
                    qkv=make_linear([attn.q_proj, attn.k_proj, attn.v_proj], pack),
                    o=make_linear([attn.o_proj], pack),
                    gate_up=make_linear([mlp.gate_proj, mlp.up_proj], pack),
                    down=make_linear([mlp.down_proj], pack),
                )
            )
        self._vocab = make_linear([model.get_output_embeddings()], pack)

    def _rope(self, hidden: Tensor, positions: Tensor) -> tuple[Tensor, Tensor]:
        cos, sin = self.base.rotary_emb(hidden, positions[None])
        # [N, 1, D]: broadcast over the heads of each token.
        return cos[0, :, None], sin[0, :, None]

    def _qkv(self, index: int, hidden: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, ...]:
        layer = self.layers[index]
        n = hidden.shape[0]
        q, k, v = self._ops[index].qkv(layer.input_layernorm(hidden))
        q = layer.self_attn.q_norm(q.view(n, self.heads, self.head_dim))
        k = layer.self_attn.k_norm(k.view(n, self.kv_heads, self.head_dim))
        v = v.reshape(n, self.kv_heads, self.head_dim)
        return _rotate(q, cos, sin), _rotate(k, cos, sin), v

    def _finish_layer(self, index: int, hidden: Tensor, attn_out: Tensor) -> Tensor:
        layer, ops = self.layers[index], self._ops[index]
        hidden = hidden + ops.o(attn_out)
        gate, up = ops.gate_up(layer.post_attention_layernorm(hidden))
        return hidden + ops.down(layer.mlp.act_fn(gate) * up)

    def _logits(self, hidden: Tensor) -> Tensor:
        return self._vocab(self.base.norm(hidden)).float()

    def prefix_kv(self, ids: list[int] | tuple[int, ...]) -> PrefixKV:
        """Run the header once; its per-layer keys and values, for every later batch."""
        _, state = self.prefill([[list(ids)]], None, decode_columns=0, want_logits=False)
        (group,) = state.groups
        n = len(ids)
        layers = [
            (k[0, :, :n].contiguous(), v[0, :, :n].contiguous())
            for k, v in zip(group.k, group.v, strict=True)
        ]
        return PrefixKV(length=n, layers=layers)

    def prefill(
        self,
        groups: list[list[list[int]]],
        prefix: PrefixKV | None,
        *,
        decode_columns: int,
        want_logits: bool = True,
    ) -> tuple[Tensor | None, BatchState]:
        """Run every row's own tokens after ``prefix``; logits at each row's last token.

        ``groups`` are lists of rows (token ids); rows come back in the same order.
        """
        rows = [row for group in groups for row in group]
        start = prefix.length if prefix else 0
        plans = [_GroupPlan.build(self, group, decode_columns) for group in groups]
        ids = torch.tensor([token for row in rows for token in row], device=self.device)
        self.threads.use(len(ids))
        hidden = self.base.embed_tokens(ids)
        cos, sin = self._rope(hidden, start + torch.cat([plan.cols for plan in plans]))
        for index in range(len(self.layers)):
            q, k, v = self._qkv(index, hidden, cos, sin)
            shared = prefix.layers[index] if prefix else None
            parts, offset = [], 0
            for plan in plans:
                span = slice(offset, offset + plan.tokens)
                offset = span.stop
                plan.k[index][plan.row_of, :, plan.cols] = k[span]
                plan.v[index][plan.row_of, :, plan.cols] = v[span]
                parts.append(self._prefill_attention(index, q[span], plan, shared))
            out = torch.cat(parts) if len(parts) > 1 else parts[0]
            hidden = self._finish_layer(index, hidden, out)

        state = BatchState(groups=[plan.cache(start) for plan in plans], prefix=prefix)
        if not want_logits:
            return None, state
        lengths = torch.tensor([len(row) for row in rows], device=self.device)
        return self._logits(hidden[torch.cumsum(lengths, 0) - 1]), state

    def _prefill_attention(
        self, index: int, q: Tensor, plan: _GroupPlan, shared: tuple[Tensor, Tensor] | None
    ) -> Tensor:
        rows, width = plan.lengths.shape[0], plan.width
        padded = q.new_zeros(rows, width, self.heads, self.head_dim)
        padded[plan.row_of, plan.cols] = q
        grouped = padded.view(rows, width, self.kv_heads, self.groups, self.head_dim)
        grouped = grouped.permute(0, 2, 3, 1, 4)
        prefix_len = shared[0].shape[1] if shared else 0
        step = max(1, _SCORE_BUDGET // (self.heads * width * (width + prefix_len)))
        k, v = plan.k[index], plan.v[index]
        parts = [
            attend(
                grouped[first : first + step],
                k[first : first + step, :, :width],
                v[first : first + step, :, :width],
                plan.bias[first : first + step],
                shared,
                self.scaling,
            )
            for first in range(0, rows, step)
        ]
        out = torch.cat(parts) if len(parts) > 1 else parts[0]
        return out.permute(0, 3, 1, 2, 4).reshape(rows, width, -1)[plan.row_of, plan.cols]

    def decode(self, tokens: Tensor, state: BatchState) -> Tensor:
        """One step for every row of ``state``: feed ``tokens`` (``[rows, L]``: each
        row's next token, then ``L - 1`` drafted ones, ``worker.drafts``), get logits
        ``[rows, L, vocab]``. The fed tokens take the next ``L`` cache columns of every
        row, each seeing those before it; ``state.advance`` then says how many of them
        each row keeps."""
        rows, length = tokens.shape
        self.threads.use(rows * length)
        hidden = self.base.embed_tokens(tokens.reshape(-1))
        offsets = torch.arange(length, device=tokens.device)
        positions = torch.cat([group.positions for group in state.groups])
        cos, sin = self._rope(hidden, (positions[:, None] + offsets).reshape(-1))
        first = state.step
        biases = []
        for group in state.groups:
            column = group.width + first
            group.bias[..., column : column + length] = 0.0
            bias = group.bias[..., : column + length]
            if length > 1:
                # Fed token j sees the fed tokens up to itself only.
                later = offsets[None, :] > offsets[:, None]  # [query j, fed column]
                causal = torch.zeros(length, column + length, device=tokens.device)
                causal[:, column:].masked_fill_(later, -torch.inf)
                bias = bias + causal[None, None, None]
            biases.append((column, bias))
        for index in range(len(self.layers)):
            q, k, v = self._qkv(index, hidden, cos, sin)
            shared = state.prefix.layers[index] if state.prefix else None
            parts, offset = [], 0
            for group, (column, bias) in zip(state.groups, biases, strict=True):
                count = group.rows * length
                span = slice(offset, offset + count)
                offset = span.stop
                end = column + length
                group.k[index][:, :, column:end] = (
                    k[span].view(group.rows, length, self.kv_heads, self.head_dim).transpose(1, 2)
                )
                group.v[index][:, :, column:end] = (
                    v[span].view(group.rows, length, self.kv_heads, self.head_dim).transpose(1, 2)
                )
                grouped = (
                    q[span]
                    .view(group.rows, length, self.kv_heads, self.groups, self.head_dim)
                    .permute(0, 2, 3, 1, 4)
                )
                out = attend(
                    grouped,
                    group.k[index][:, :, :end],
                    group.v[index][:, :, :end],
                    bias,
                    shared,
                    self.scaling,
                )
                parts.append(out.permute(0, 3, 1, 2, 4).reshape(count, -1))
            out = torch.cat(parts) if len(parts) > 1 else parts[0]
            hidden = self._finish_layer(index, hidden, out)
        return self._logits(hidden).view(rows, length, -1)


@dataclass
class _GroupPlan:
    """Where one group's packed tokens go in its padded cache, and the cache itself."""

    lengths: Tensor
    row_of: Tensor
    cols: Tensor
    width: int
    bias: Tensor
    k: list[Tensor]
    v: list[Tensor]
    decode_columns: int

    @property
    def tokens(self) -> int:
        return self.cols.shape[0]

    @classmethod
    def build(cls, forward: Forward, group: list[list[int]], decode_columns: int) -> _GroupPlan:
        device = forward.device
        lengths = torch.tensor([len(row) for row in group], device=device)
        width = int(lengths.max())
        span = torch.arange(width, device=device)
        # A prompt query sees the keys at or before it, in its own row only.
        visible = (span[None, :] <= span[:, None])[None] & (span < lengths[:, None])[:, None]
        bias = torch.zeros(len(group), 1, 1, width, width, device=device)
        bias.masked_fill_(~visible[:, None, None], -torch.inf)
        shape = (len(group), forward.kv_heads, width + decode_columns, forward.head_dim)
        # Zeros, not empty: masked scores are garbage + (-inf), and NaN garbage would leak.
        return cls(
            lengths=lengths,
            row_of=torch.repeat_interleave(torch.arange(len(group), device=device), lengths),
            cols=torch.cat([torch.arange(len(row), device=device) for row in group]),
            width=width,
            bias=bias,
            k=[torch.zeros(shape, device=device, dtype=forward.dtype) for _ in forward.layers],
            v=[torch.zeros(shape, device=device, dtype=forward.dtype) for _ in forward.layers],
            decode_columns=decode_columns,
        )

    def cache(self, start: int) -> GroupKV:
        """The decode-time cache: decode queries see the prompt columns until written."""
        columns = torch.arange(self.width + self.decode_columns, device=self.lengths.device)
        bias = torch.zeros(self.lengths.shape[0], 1, 1, 1, columns.shape[0], device=columns.device)
        bias.masked_fill_(~(columns < self.lengths[:, None])[:, None, None, None], -torch.inf)
        return GroupKV(
            k=self.k, v=self.v, bias=bias, positions=start + self.lengths, width=self.width
        )
