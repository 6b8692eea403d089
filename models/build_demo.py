"""Build the demo model in models/demo/: tokenizer, chat template, weights, held-out set.

    .venv/bin/python models/build_demo.py [--out models/demo] [--steps N] [--seed S]

Deterministic for a given seed (on one machine: CPU float arithmetic may differ across
CPUs). The tokenizer and chat template are written first, the weights when training
ends. The result is a format-faithful toy, NOT a safety model (see demo_card.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import demo_card  # noqa: E402
import demo_train  # noqa: E402
import synth  # noqa: E402
import torch  # noqa: E402
from demo_shape import DEMO_SHAPE  # noqa: E402
from demo_template import CHAT_TEMPLATE, FIXED_PIECES, FIXED_TEXTS  # noqa: E402
from demo_tokenizer import save_tokenizer, train_tokenizer  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    GenerationConfig,
    Qwen3Config,
    Qwen3ForCausalLM,
)

HELDOUT = {"prompt": 110, "response": 90}
ARTIFACTS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "heldout.jsonl",
    "README.md",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "demo", help="output directory")
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps")
    parser.add_argument("--seed", type=int, default=1234, help="seed of data, init, order")
    parser.add_argument("--lr", type=float, default=4e-3, help="peak learning rate")
    parser.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary cap")
    parser.add_argument(
        "--train-items", type=int, default=20000, help="synthetic training items (both modes)"
    )
    return parser.parse_args(argv)


def build_data(args):
    n_prompt = args.train_items * 11 // 20
    train_items = synth.generate(n_prompt, args.train_items - n_prompt, seed=args.seed)
    heldout = synth.generate(
        HELDOUT["prompt"],
        HELDOUT["response"],
        seed=args.seed + 1_000_003,
        exclude={item.key() for item in train_items},
    )
    return train_items, heldout


def build_tokenizer(args, train_items, heldout):
    # Weighted so that the template's own words (USER, assistant) are single tokens.
    corpus = [text for text in FIXED_TEXTS for _ in range(50)]
    for item in train_items:
        corpus.extend(t for t in (item.text, item.prompt, item.response, item.answer()) if t)
    tokenizer = train_tokenizer(corpus, args.vocab_size, CHAT_TEMPLATE, FIXED_PIECES)
    save_tokenizer(tokenizer, str(args.out))
    with open(args.out / "heldout.jsonl", "w", encoding="utf-8") as f:
        for item in heldout:
            f.write(json.dumps(item.to_row(), ensure_ascii=False) + "\n")
    # Train on exactly what ships, loaded the way guardq loads it.
    shipped = AutoTokenizer.from_pretrained(str(args.out))
    for text in ("中文 emoji 🎉🥳 tabs\t\tand  spaces\n\nend ", corpus[-1], FIXED_TEXTS[0]):
        ids = shipped(text, add_special_tokens=False)["input_ids"]
        if shipped.decode(ids) != text:
            raise RuntimeError(f"tokenizer does not round-trip {text!r}")
    return shipped


def build_model(tokenizer) -> Qwen3ForCausalLM:
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **DEMO_SHAPE,
    )
    return Qwen3ForCausalLM(config)


def save_model(model, tokenizer, out: Path) -> None:
    model.generation_config = GenerationConfig(
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=128,
    )
    model.save_pretrained(str(out), safe_serialization=True)


def evaluate(model, tokenizer, heldout) -> dict:
    """Exact-match and well-formed rates of greedy answers on the held-out set."""
    answers = demo_train.greedy_answers(model, tokenizer, heldout)
    exact = sum(a == item.answer() for a, item in zip(answers, heldout, strict=True))
    well_formed = sum(
        demo_card.well_formed(a, item.mode) for a, item in zip(answers, heldout, strict=True)
    )
    for answer, item in zip(answers, heldout, strict=True):
        if answer != item.answer():
            print(f"  miss: expected {item.answer()!r} got {answer!r}")
    return {
        "items": len(heldout),
        "exact": exact / len(heldout),
        "well_formed": well_formed / len(heldout),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        (args.out / name).unlink(missing_ok=True)
    started = time.monotonic()

    print("[1/5] synthetic data", flush=True)
    train_items, heldout = build_data(args)
    print(f"  {len(train_items)} training items, {len(heldout)} held-out", flush=True)

    print("[2/5] tokenizer and chat template", flush=True)
    tokenizer = build_tokenizer(args, train_items, heldout)
    print(f"  vocab {len(tokenizer)}, written to {args.out}", flush=True)

    print("[3/5] model", flush=True)
    model = build_model(tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"  Qwen3ForCausalLM, {n_params:,} parameters", flush=True)

    print(f"[4/5] training, {args.steps} steps", flush=True)
    headers = {m: demo_train.header_ids(tokenizer, m) for m in ("prompt", "response")}
    encoded = demo_train.encode(train_items, tokenizer, headers)
    train_started = time.monotonic()
    demo_train.train(model, tokenizer, encoded, steps=args.steps, lr=args.lr, seed=args.seed)
    train_seconds = time.monotonic() - train_started
    save_model(model, tokenizer, args.out)

    print("[5/5] held-out evaluation", flush=True)
    scores = evaluate(model, tokenizer, heldout)
    print(
        f"  well-formed {scores['well_formed']:.1%}, exact label {scores['exact']:.1%}"
        f" of {scores['items']} items",
        flush=True,
    )
    (args.out / "README.md").write_text(
        demo_card.render(args, n_params, len(tokenizer), headers, scores), encoding="utf-8"
    )
    shutil.rmtree(args.out / "__pycache__", ignore_errors=True)
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(
        f"done in {time.monotonic() - started:.0f}s (training {train_seconds:.0f}s),"
        f" {args.out} holds {size / 1e6:.2f} MB",
        flush=True,
    )


if __name__ == "__main__":
    main()
