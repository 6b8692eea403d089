"""Fixtures for the engine tests: the demo tokenizer, a tiny random model beside it,
and the trained demo model once ``models/build_demo.py`` has written its weights."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

from guardq.settings import DEMO_MODEL
from worker.engine import GuardEngine
from worker.params import EngineParams

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
# Small windows, so that ordinary test inputs span several chunks.
CHUNKED = EngineParams(chunk_tokens=32, chunk_overlap=8, max_new_tokens=32, max_batch_tokens=2048)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Models this small gain nothing from a second thread, and on a shared CPU every
    OpenMP barrier can stall on a descheduled thread (10x slower tests here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    if not (DEMO_MODEL / "tokenizer.json").is_file():
        pytest.skip("models/demo has no tokenizer yet (run models/build_demo.py)")
    return DEMO_MODEL


@pytest.fixture(scope="session")
def tokenizer(demo_dir):
    return AutoTokenizer.from_pretrained(demo_dir)


@pytest.fixture(scope="session")
def tiny_dir(demo_dir, tmp_path_factory) -> Path:
    """A random-weight Qwen3 in the demo model's shape, with the demo tokenizer."""
    out = tmp_path_factory.mktemp("tiny")
    tokenizer = AutoTokenizer.from_pretrained(demo_dir)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    # Larger weights than the default init: logits far apart, so that no argmax is a
    # near-tie that float rounding between batched and single runs could flip.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.2)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        shutil.copy(demo_dir / name, out / name)
    return out


@pytest.fixture(scope="session")
def tiny_engine(tiny_dir) -> GuardEngine:
    # Random weights never end an answer: a short decode keeps these tests quick.
    return GuardEngine.load(str(tiny_dir), device="cpu", params=replace(CHUNKED, max_new_tokens=6))


@pytest.fixture(scope="session")
def demo_engine(demo_dir) -> GuardEngine:
    if not (demo_dir / "model.safetensors").is_file():
        pytest.skip("models/demo has no weights yet (run models/build_demo.py)")
    return GuardEngine.load(str(demo_dir), device="cpu", params=CHUNKED)
