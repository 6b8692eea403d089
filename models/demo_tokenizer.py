"""The demo's byte-level BPE tokenizer, built like Qwen's and trained on our own texts.

Same pipeline as the Qwen2/Qwen3 tokenizer (NFC, Qwen's split regex, byte-level
alphabet, no BOS), same special tokens (``<|endoftext|>`` pad, ``<|im_start|>``,
``<|im_end|>`` eos; ``<think>``/``</think>`` as plain added tokens), so the real loading
code treats it like the real one. Any text round-trips through the byte alphabet. Unlike
Qwen's, each fixed line of the moderation template is one added token: the demo model
then sees a short header, which keeps its training to minutes on a CPU.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers import processors as tk_processors
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer
from transformers import PreTrainedTokenizerFast

# Qwen2's pre-tokenization regex, as shipped in its tokenizer.json.
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
THINK_TOKENS = ("<think>", "</think>")


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, chat_template: str, fixed_pieces: Iterable[str] = ()
):
    """A transformers tokenizer trained on ``texts`` (special tokens removed first), with
    each of ``fixed_pieces`` (the template's fixed lines) added as one plain token."""
    backend = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = tk_processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    specials = (PAD, IM_START, IM_END, *THINK_TOKENS)

    def stripped():
        for text in texts:
            for special in specials:
                text = text.replace(special, "\n")
            yield text

    backend.train_from_iterator(stripped(), trainer)
    backend.add_tokens(
        [AddedToken(t, special=False, normalized=False) for t in (*THINK_TOKENS, *fixed_pieces)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=None,
        padding_side="left",
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
        chat_template=chat_template,
    )
    return tokenizer


def save_tokenizer(tokenizer, out_dir: str) -> None:
    """Save in the transformers layout, declared as Qwen2's tokenizer class like the
    real checkpoints (Qwen2Tokenizer rebuilds this very pipeline from tokenizer.json)."""
    tokenizer.save_pretrained(out_dir)

    path = os.path.join(out_dir, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config["tokenizer_class"] = "Qwen2Tokenizer"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")
