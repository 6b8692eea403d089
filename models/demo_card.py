"""The model card (models/demo/README.md) and the well-formedness check of the build."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def well_formed(answer: str, mode: str) -> bool:
    """Whether guardq's own parser reads ``answer`` fully (Refusal too in response mode)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from guardq.output import parse_output
    from guardq.verdict import Mode

    verdict = parse_output(answer, Mode(mode))
    return verdict.parsed and (mode == "prompt" or verdict.refusal is not None)


def render(args, n_params: int, vocab: int, headers: dict, scores: dict) -> str:
    shape = (
        "hidden 128, 4 layers, 4 attention heads (2 KV heads, head_dim 32), MLP 384, "
        "tied embeddings, RoPE theta 1e6, 32k positions"
    )
    return f"""\
# guardq demo model — NOT a safety model

A tiny `Qwen3ForCausalLM` ({n_params:,} parameters, fp32) with a byte-level BPE tokenizer
(vocabulary {vocab}) whose chat template renders the Qwen3Guard-Gen moderation prompt
exactly. It exists so that guardq's real loading and inference code (tokenizer, chat
template, batching, chunking, prefix cache, output parsing) runs anywhere, in tests and
as the default `GUARDQ_MODEL`, without downloading weights.

**It is not a safety model and must not moderate anything real.** It was trained for a
few minutes on a synthetic set whose labels follow toy rules: a fixed list of phrases
per category decides the label. It knows nothing beyond those phrases; on real text its
verdicts are meaningless, though they come in the real format.

## What it does

Given the rendered Qwen3Guard-Gen prompt it answers greedily in the real output format,
then `<|im_end|>`:

```
Safety: Unsafe
Categories: Violent, PII
```

with a third line `Refusal: Yes` or `Refusal: No` for response moderation (a
conversation ending with an assistant turn). Categories come in the official order,
`Categories: None` when Safe.

- Tokenizer: Qwen's pipeline (NFC, Qwen2 split regex, byte-level alphabet, no BOS), so any
  text round-trips; `<|endoftext|>` pad, `<|im_start|>`, `<|im_end|>` eos, `<think>` and
  `</think>` as added tokens; class `Qwen2Tokenizer`, left padding. Unlike Qwen's, each
  fixed line of the moderation template is one added (non-special) token, which makes
  the prompt short and the training cheap.
- Chat template: Qwen3Guard-Gen's rendering, byte for byte; everything before the first
  `USER:` is fixed per mode ({len(headers["prompt"])} tokens for prompt moderation,
  {len(headers["response"])} for response moderation; a few hundred with the real
  tokenizer) and can be cached as a prefix.
- Model: {shape}.

## How it was built

    .venv/bin/python models/build_demo.py --steps {args.steps} --seed {args.seed}

`models/synth.py` generates {args.train_items} labeled items from the phrase banks in
`models/synth_banks.py`: English, Chinese and Spanish signal phrases (strong phrases make
an item Unsafe, mild ones Controversial; categories are the union), set at random places
in neutral filler in several languages with emoji and odd whitespace, a few words to a
few hundred tokens long. Response items are judged on the assistant's text only; a
refusal is Safe with `Refusal: Yes`. The tokenizer is trained on these texts plus the
template; the model is trained from scratch for {args.steps} AdamW steps (peak learning
rate {args.lr}, warm-up then cosine), the loss on the answer tokens only, short items
first and all lengths from mid-run on.

`heldout.jsonl` holds {scores["items"]} items from another seed, none identical to a
training text. Greedy decoding on it: {scores["well_formed"]:.1%} well-formed answers,
{scores["exact"]:.1%} exactly the intended label (safety, categories, refusal).
`tests/models/test_demo_model.py` checks this with guardq's parser.

## Using a real model

Point guardq at a Qwen3Guard-Gen checkpoint, a hub id or a local directory:

    export GUARDQ_MODEL=Qwen/Qwen3Guard-Gen-0.6B   # or -4B, -8B, or /path/to/checkpoint

The real checkpoints ship their own tokenizer and chat template; nothing of this demo
is used then.
"""
