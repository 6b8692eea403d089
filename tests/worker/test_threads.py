"""The per-step thread choice (worker/threads.py): one thread for a small model's small
steps, every thread for big steps and big models."""

from __future__ import annotations

import torch
from torch import nn

from worker.threads import StepThreads


def _model(params: int) -> nn.Module:
    return nn.Linear(params, 1, bias=False)


def test_small_steps_of_a_small_model_run_on_one_thread(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    chosen = []
    monkeypatch.setattr(torch, "set_num_threads", chosen.append)
    policy = StepThreads(_model(1_000_000), torch.device("cpu"))  # 4 MB of fp32
    assert policy.wanted(1) == 1
    assert policy.wanted(1_000) == 1  # 1e9 multiply-accumulates: below the bound
    assert policy.wanted(2_000) == 4
    policy.use(1)
    assert chosen == [1]


def test_a_large_model_always_gets_every_thread(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    policy = StepThreads(_model(32_000_000), torch.device("cpu"))  # 128 MB of fp32
    assert policy.wanted(1) == 4


def test_one_configured_thread_stays_one(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    policy = StepThreads(_model(1_000), torch.device("cpu"))
    assert policy.wanted(10**9) == 1


def test_the_engine_sets_one_thread_for_small_steps_and_all_for_a_big_prefill(
    tiny_engine, monkeypatch
):
    policy = tiny_engine._forward.threads
    monkeypatch.setattr(policy, "full", 2)
    monkeypatch.setattr(policy, "_adaptive", True)
    monkeypatch.setattr(policy, "_params", 1_000_000)
    real = torch.set_num_threads
    chosen: list[int] = []

    def record(n: int) -> None:
        chosen.append(n)
        real(n)

    monkeypatch.setattr(torch, "set_num_threads", record)
    try:
        real(2)
        tiny_engine.moderate(["How do I bake bread?"])
        assert chosen and set(chosen) == {1}
        chosen.clear()
        tiny_engine.moderate(["many words in a long text " * 40] * 16)  # > 1,000 tokens
        assert chosen[0] == 2 and chosen[-1] == 1  # the prefill, then the decode steps
    finally:
        real(1)
