"""Training and greedy evaluation of the demo model on the synthetic set.

Every item of a mode starts with the same header tokens. A training step therefore runs
that header once (batch 1, with gradients), broadcasts its KV cache over the batch and
runs only the per-item suffix (content, footer, answer) on top: the same function as a
full forward pass, for less. Batches come short items first (see ``Curriculum``). The
loss covers the answer tokens and the closing ``<|im_end|>`` only, and the LM head runs
on those positions only.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import DynamicCache

_CONVERSATION_OPEN = "<BEGIN CONVERSATION>\n\n"


@dataclass(frozen=True)
class Encoded:
    mode: str
    suffix: list[int]  # prompt tokens after the mode's header, then the answer and eos
    n_answer: int  # the answer tokens (eos included) at the end of ``suffix``


def header_ids(tokenizer, mode: str) -> list[int]:
    """The tokens every rendered prompt of ``mode`` starts with (up to the first USER:)."""
    messages = [{"role": "user", "content": "x"}]
    if mode == "response":
        messages.append({"role": "assistant", "content": "y"})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    header = text[: text.index(_CONVERSATION_OPEN) + len(_CONVERSATION_OPEN)]
    return tokenizer(header, add_special_tokens=False)["input_ids"]


def encode(items, tokenizer, headers: dict[str, list[int]]) -> list[Encoded]:
    encoded = []
    for item in items:
        text = tokenizer.apply_chat_template(
            item.messages(), tokenize=False, add_generation_prompt=True
        )
        prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
        header = headers[item.mode]
        if prompt[: len(header)] != header:
            raise ValueError(f"header tokens differ for {item!r}")
        answer = tokenizer(item.answer(), add_special_tokens=False)["input_ids"]
        answer.append(tokenizer.eos_token_id)
        encoded.append(Encoded(item.mode, prompt[len(header) :] + answer, len(answer)))
    return encoded


def make_batches(encoded: list[Encoded], token_budget: int, max_batch: int) -> list:
    """Batches of one mode and similar length (sorted buckets), shortest first."""
    batches = []
    for mode in ("prompt", "response"):
        group = sorted((e for e in encoded if e.mode == mode), key=lambda e: len(e.suffix))
        start = 0
        while start < len(group):
            end = start + 1
            while (
                end < len(group)
                and end - start < max_batch
                and (end - start + 1) * len(group[end].suffix) <= token_budget
            ):
                end += 1
            batches.append(group[start:end])
            start = end
    return batches


class Curriculum:
    """Draws training batches, short ones first: a random init learns to find a phrase
    in a few words long before it does in a few hundred. The shortest ``start`` share of
    each mode's batches is open at first; all are from ``full`` of the run on."""

    def __init__(self, batches, steps: int, seed: int, start: float = 0.3, full: float = 0.5):
        self.by_mode = {
            mode: [b for b in batches if b[0].mode == mode] for mode in ("prompt", "response")
        }
        # Response items are longer and harder (only the assistant's text counts): they get
        # a bit more than their share of the steps.
        self.p_prompt = 0.45
        self.steps, self.start, self.full = steps, start, full
        self.rng = random.Random(seed)

    def batch(self, step: int) -> list[Encoded]:
        mode = "prompt" if self.rng.random() < self.p_prompt else "response"
        group = self.by_mode[mode]
        opened = self.start + (1 - self.start) * min(1.0, step / (self.full * self.steps))
        return group[self.rng.randrange(max(1, round(opened * len(group))))]


def _tensors(batch: list[Encoded], pad_id: int):
    width = max(len(e.suffix) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    # Position t predicts token t + 1: mark the positions just before each answer token.
    targets = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.suffix)
        ids[row, :n] = torch.tensor(e.suffix)
        targets[row, n - e.n_answer - 1 : n - 1] = ids[row, n - e.n_answer : n]
    return ids, targets


def batch_loss(model, header: torch.Tensor, batch: list[Encoded], pad_id: int) -> torch.Tensor:
    ids, targets = _tensors(batch, pad_id)
    cache = DynamicCache(config=model.config)
    model.model(input_ids=header, past_key_values=cache, use_cache=True)
    for layer in cache.layers:
        layer.keys = layer.keys.expand(len(batch), -1, -1, -1)
        layer.values = layer.values.expand(len(batch), -1, -1, -1)
    # Right padding after the answer is harmless under causal attention.
    hidden = model.model(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state
    picked = targets != -100
    logits = model.lm_head(hidden[picked])
    return F.cross_entropy(logits, targets[picked])


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train(model, tokenizer, encoded, *, steps: int, lr: float, seed: int, log_every: int = 25):
    headers = {mode: torch.tensor([header_ids(tokenizer, mode)]) for mode in ("prompt", "response")}
    pad_id = tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, steps, warmup)
    )
    model.train()
    curriculum = Curriculum(make_batches(encoded, token_budget=3072, max_batch=24), steps, seed)
    started, running, seen = time.monotonic(), 0.0, 0
    for step in range(steps):
        batch = curriculum.batch(step)
        seen += len(batch)
        loss = batch_loss(model, headers[batch[0].mode], batch, pad_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        running = loss.item() if step == 0 else 0.9 * running + 0.1 * loss.item()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            elapsed = time.monotonic() - started
            print(
                f"step {step + 1}/{steps}  loss {running:.4f}  lr {scheduler.get_last_lr()[0]:.2e}"
                f"  items {seen}  {elapsed:.0f}s ({(step + 1) / elapsed:.2f} steps/s)",
                flush=True,
            )
    model.eval()


@torch.no_grad()
def greedy_answers(model, tokenizer, items, batch_size: int = 32) -> list[str]:
    """Plain ``generate`` (greedy, left padding) on each item's rendered prompt."""
    texts = [
        tokenizer.apply_chat_template(item.messages(), tokenize=False, add_generation_prompt=True)
        for item in items
    ]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[str] = [""] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        inputs = tokenizer(
            [texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False
        )
        out = model.generate(**inputs, max_new_tokens=128, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        for i, row in zip(chunk, new, strict=True):
            answers[i] = tokenizer.decode(row, skip_special_tokens=True)
    return answers
