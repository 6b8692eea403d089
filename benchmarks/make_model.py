"""Write a random-weight Qwen3 causal LM of a given shape next to the demo tokenizer.

    .venv/bin/python benchmarks/make_model.py --preset qwen3-0.6b-4layer [--out DIR]

For timing only: its verdicts are noise. The tokenizer and chat template are copied
from ``--tokenizer`` (the demo model's by default), so the prompts are the real
Qwen3Guard format; the vocabulary is padded to the preset's size (151936 for the
Qwen3 shapes) so that the embedding and the vocabulary projection cost what they cost
in the real checkpoint.

``ceiling`` is no random model: a one-layer Qwen3 whose weights are set by hand so that
it answers every prompt-mode item ``Safety: Safe`` / ``Categories: None`` and stops, as
a real checkpoint does for most traffic, at almost no cost per token. Run through the
system (benchmarks/pipeline.py) it shows the pipeline's own ceiling: what the store,
the queue and the API allow when the model costs next to nothing. Prompt mode only (a
response-mode answer lacks its Refusal line), and a text holding the tokenizer's
``Categories`` token gets an unparsable answer; benchmarks/inputs.py's texts hold none.
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
    # See the module docstring and script_safe_answer(). head_dim 16: the RoPE pair the
    # flag lookup uses (7, 15) turns by under 0.03 rad across 4,096 positions.
    "ceiling": {
        **QWEN3_COMMON,
        "hidden_size": 32,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "max_position_embeddings": 32768,
        "vocab_size": 0,
        "tie_word_embeddings": False,
    },
}
SCRIPTED = {"ceiling"}
SAFE_ANSWER = "Safety: Safe\nCategories: None"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
)


def make_model(
    preset: str, out: Path, tokenizer_dir: Path, seed: int = 0, layers: int | None = None
) -> Path:
    """Write the model of ``preset`` (with ``layers`` layers, if given) to ``out``."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    shape = dict(PRESETS[preset])
    if layers is not None:
        if preset in SCRIPTED or layers < 1:
            raise ValueError(f"--layers: a positive count, for a random preset; got {layers}")
        shape["num_hidden_layers"] = layers
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
    if preset in SCRIPTED:
        script_safe_answer(model, tokenizer)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, out / name)
    return out


def _answer_chain(tokenizer) -> list[int]:
    """The ids the model must produce: the prompt's last token, the answer, the end."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi."}], tokenize=False)
    last = tokenizer(prompt, add_special_tokens=False)["input_ids"][-1]
    answer = tokenizer(SAFE_ANSWER, add_special_tokens=False)["input_ids"]
    return [last, *answer, tokenizer.eos_token_id]


@torch.no_grad()
def script_safe_answer(model: Qwen3ForCausalLM, tokenizer) -> None:
    """Set ``model``'s weights so that greedy decoding after any prompt writes
    SAFE_ANSWER and the end token.

    Each token of the answer gets its own embedding dimension, all other tokens embed to
    zero, and the vocabulary projection maps each answer token to the next: a bigram
    table. One token repeats with different successors (":" after "Safety" and after
    "Categories"); the attention layer tells them apart: at that token the query
    matches only the key of "Categories" (on the slowest RoPE pair, so distance hardly
    matters), and its value raises a flag dimension that turns the projection to the
    second successor. The MLP is zero.
    """
    chain = _answer_chain(tokenizer)
    successor: dict[int, int] = {}
    flagged = None  # (repeated token, the token before its second use, second successor)
    for before, current, following in zip([None, *chain], chain, chain[1:], strict=False):
        if successor.setdefault(current, following) != following:
            if flagged is not None:
                raise ValueError(f"{SAFE_ANSWER!r} tokenizes with more than one ambiguous token")
            flagged = (current, before, following)
    if flagged is None:
        raise ValueError(f"expected one repeated token in {SAFE_ANSWER!r}")
    repeated, marker, second = flagged
    slots = {token: i for i, token in enumerate(dict.fromkeys(chain[:-1]))}
    config = model.config
    hidden, head_dim = config.hidden_size, config.head_dim
    flag, pair = len(slots), head_dim // 2 - 1
    if flag >= hidden:
        raise ValueError(f"hidden_size {hidden} is too small for {flag + 1} dimensions")

    for parameter in model.parameters():
        parameter.zero_()
    base, layer = model.model, model.model.layers[0]
    for norm in (layer.input_layernorm, layer.post_attention_layernorm, base.norm):
        norm.weight.fill_(1.0)
    for token, slot in slots.items():
        base.embed_tokens.weight[token, slot] = 1.0
    attention = layer.self_attn
    # Normalised inputs are sqrt(hidden) * one-hot; these make value and query unit-sized.
    scale = hidden**-0.5
    attention.q_proj.weight[pair, slots[repeated]] = scale
    attention.k_proj.weight[pair, slots[marker]] = scale
    # After q_norm / k_norm each is 4 * 5 = 20 on the pair: a score of 100 for the
    # marker, 0 for every other position.
    attention.q_norm.weight.fill_(5.0)
    attention.k_norm.weight.fill_(5.0)
    attention.v_proj.weight[0, slots[marker]] = scale
    attention.o_proj.weight[flag, 0] = 1.0
    head = model.lm_head.weight
    for token, following in successor.items():
        head[following, slots[token]] = 1.0
    # Without the flag the first successor wins (1 against 0.5); with it the second
    # (0.5 + 1 against 1, both halved by the final norm).
    head[second, slots[repeated]] = 0.5
    head[second, flag] = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="qwen3-0.6b-4layer")
    parser.add_argument("--out", type=Path, help="default: .bench/<preset>")
    parser.add_argument("--tokenizer", type=Path, default=REPO / "models" / "demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, help="override the preset's layer count")
    args = parser.parse_args(argv)
    if not (args.tokenizer / "tokenizer.json").is_file():
        print(f"no tokenizer.json in {args.tokenizer}: build the demo model first", file=sys.stderr)
        return 2
    out = args.out or REPO / ".bench" / args.preset
    make_model(args.preset, out, args.tokenizer, args.seed, args.layers)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
