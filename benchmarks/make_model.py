"""Write a random-weight Qwen3 causal LM of a given shape next to the demo tokenizer.

    .venv/bin/python benchmarks/make_model.py --preset qwen3-0.6b-4layer [--out DIR]

For timing only: its verdicts are noise. The tokenizer and chat template are copied
from ``--tokenizer`` (the demo model's by default), so the prompts are the real
Qwen3Guard format; the vocabulary is padded to the preset's size (151936 for the
Qwen3 shapes) so that the embedding and the vocabulary projection cost what they cost
in the real checkpoint.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "models"))

from demo_shape import DEMO_SHAPE, QWEN3_COMMON  # noqa: E402

QWEN3_06B = dict(
    hidden_size=1024,
    intermediate_size=3072,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=151936,
    max_position_embeddings=40960,
    **QWEN3_COMMON,
)
PRESETS = {
    "qwen3-0.6b-4layer": {**QWEN3_06B, "num_hidden_layers": 4},
    "qwen3-0.6b": {**QWEN3_06B, "num_hidden_layers": 28},
    # The demo model's shape, vocabulary cut to the tokenizer: fast tests of the code paths.
    "tiny": {**DEMO_SHAPE, "vocab_size": 0},
}
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
)


def make_model(preset: str, out: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """Write the random model of ``preset`` to ``out``; returns ``out``."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    shape = dict(PRESETS[preset])
    # Never smaller than the tokenizer: every token id needs an embedding row.
    shape["vocab_size"] = max(shape["vocab_size"], len(tokenizer))
    config = Qwen3Config(
        **shape,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, out / name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="qwen3-0.6b-4layer")
    parser.add_argument("--out", type=Path, help="default: .bench/<preset>")
    parser.add_argument("--tokenizer", type=Path, default=REPO / "models" / "demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.tokenizer / "tokenizer.json").is_file():
        print(f"no tokenizer.json in {args.tokenizer}: build the demo model first", file=sys.stderr)
        return 2
    out = args.out or REPO / ".bench" / args.preset
    make_model(args.preset, out, args.tokenizer, args.seed)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
