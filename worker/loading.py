"""Loading a checkpoint: check a local directory first, so errors name the missing file.

``from_pretrained`` on an incomplete directory fails with an OSError about a Hub
repository, which sends an operator looking in the wrong place. We check the files
ourselves and say which one is missing and how to get it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from worker.errors import EngineOutOfMemoryError, ModelLoadError
from worker.placement import Placement

_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_SAVE_HINT = "save the checkpoint with model.save_pretrained() / tokenizer.save_pretrained()"


def is_local(model: str) -> bool:
    """Whether ``model`` names a directory rather than a Hub id ("org/name")."""
    if Path(model).expanduser().exists():
        return True
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or model.endswith("/")


def check_model_dir(path: Path) -> None:
    """Raise ``ModelLoadError`` naming the first file a checkpoint directory lacks."""
    where = str(path)
    if not path.exists():
        raise ModelLoadError(
            where,
            "the directory does not exist",
            "set GUARDQ_MODEL to a checkpoint directory or a Hub id such as "
            "Qwen/Qwen3Guard-Gen-0.6B (for models/demo, build the demo model first)",
        )
    if not path.is_dir():
        raise ModelLoadError(where, "it is a file, not a directory", "point at its directory")
    if not (path / "config.json").is_file():
        raise ModelLoadError(where, f"config.json is missing in {where}", _SAVE_HINT)

    weights = next((name for name in _WEIGHTS if (path / name).is_file()), None)
    if weights is None:
        raise ModelLoadError(
            where,
            f"no weights in {where} (expected one of {', '.join(_WEIGHTS)})",
            f"{_SAVE_HINT}, or wait for the model build to finish writing them",
        )
    if weights.endswith(".index.json"):
        shards = sorted(set(json.loads((path / weights).read_text())["weight_map"].values()))
        missing = [shard for shard in shards if not (path / shard).is_file()]
        if missing:
            raise ModelLoadError(
                where,
                f"weight shard {missing[0]} listed in {weights} is missing "
                f"({len(missing)} of {len(shards)} shards missing)",
                "copy every shard of the checkpoint into the directory",
            )

    if not (path / "tokenizer.json").is_file() and not (
        (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
    ):
        raise ModelLoadError(
            where, f"tokenizer.json is missing in {where}", f"{_SAVE_HINT} (the tokenizer's)"
        )
    if not (path / "tokenizer_config.json").is_file():
        raise ModelLoadError(
            where, f"tokenizer_config.json is missing in {where}", f"{_SAVE_HINT} (the tokenizer's)"
        )
    if not _has_chat_template(path):
        raise ModelLoadError(
            where,
            f"no chat template in {where} (chat_template.jinja, or chat_template in "
            "tokenizer_config.json)",
            "save the Qwen3Guard-Gen tokenizer with its chat template; the moderation "
            "prompt is built from it",
        )


def _has_chat_template(path: Path) -> bool:
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return True
    config = json.loads((path / "tokenizer_config.json").read_text())
    return bool(config.get("chat_template"))


def load_tokenizer(model: str) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer (with its chat template)."""
    source = _source(model)
    try:
        return AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise _hub_error(model, exc) from exc


def load_model(model: str, placement: Placement) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model on ``placement``'s device and dtype, in eval mode, and its tokenizer."""
    source = _source(model)
    tokenizer = load_tokenizer(model)
    tokenizer.padding_side = placement.padding_side
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            source, dtype=placement.dtype, attn_implementation="sdpa"
        )
        loaded = loaded.to(placement.device).eval()
    except torch.OutOfMemoryError as exc:
        raise EngineOutOfMemoryError(f"loading {model!r} on {placement.device}", str(exc)) from exc
    except OSError as exc:
        raise _hub_error(model, exc) from exc
    return loaded, tokenizer


def _source(model: str) -> str:
    """What ``from_pretrained`` gets: a checked local directory, or the Hub id."""
    if not is_local(model):
        return model
    path = Path(model).expanduser()
    check_model_dir(path)
    return str(path)


def _hub_error(model: str, exc: OSError) -> ModelLoadError:
    if is_local(model):
        return ModelLoadError(model, f"a file could not be read ({exc})", _SAVE_HINT)
    return ModelLoadError(
        model,
        f"it is not a local directory and the Hugging Face Hub could not provide it ({exc})",
        "where the Hub is reachable run `huggingface-cli download "
        f"{model} --local-dir DIR`, then set GUARDQ_MODEL=DIR",
    )
