"""Token counts for the ``usage`` of ``POST /v1/chat/completions``, as vLLM reports them.

vLLM counts the prompt it renders (the model's chat template, with the generation
prompt) and the tokens it generated, the end token included. guardq's answer is the
canonical text of the verdict, so the completion is counted as that text plus the end
token. The API holds no model: the template is rendered with Jinja2 as transformers
renders it (a sandbox with ``trim_blocks`` and ``lstrip_blocks``) and tokenized with
``tokenizers``, from the checkpoint's files: the local directory, or the Hugging Face
cache for a hub id. Without those files the counts are 0, and the log says so once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

log = logging.getLogger(__name__)

_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def _raise(message: str) -> None:
    raise TemplateError(message)


def _checkpoint_file(model: str, name: str) -> Path | None:
    local = Path(model) / name
    if local.is_file():
        return local
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(model, name)
    except ValueError:  # not a hub id
        return None
    return Path(found) if isinstance(found, str) else None


@dataclass(frozen=True)
class TokenCounter:
    """The prompt and completion token counts of a guard conversation."""

    template: object
    tokenizer: Tokenizer
    special: dict[str, str]

    @classmethod
    def load(cls, model: str) -> TokenCounter | None:
        files = {name: _checkpoint_file(model, name) for name in _FILES}
        if files["tokenizer.json"] is None or files["tokenizer_config.json"] is None:
            log.warning("usage: no tokenizer files for %s; token counts are reported as 0", model)
            return None
        config = json.loads(files["tokenizer_config.json"].read_text(encoding="utf-8"))
        source = config.get("chat_template")
        if files["chat_template.jinja"] is not None:
            source = files["chat_template.jinja"].read_text(encoding="utf-8")
        if isinstance(source, list):  # named templates: the default one
            source = next((t["template"] for t in source if t.get("name") == "default"), None)
        if not isinstance(source, str):
            log.warning("usage: %s has no chat template; token counts are reported as 0", model)
            return None
        environment = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        environment.globals["raise_exception"] = _raise
        special = {
            name: value
            for name, value in config.items()
            if name.endswith("_token") and isinstance(value, str)
        }
        return cls(
            template=environment.from_string(source),
            tokenizer=Tokenizer.from_file(str(files["tokenizer.json"])),
            special=special,
        )

    def _count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def count(self, messages: list[dict[str, str]], answer: str) -> tuple[int, int]:
        """(prompt tokens, completion tokens) of ``messages`` answered with ``answer``."""
        prompt = self.template.render(messages=messages, add_generation_prompt=True, **self.special)
        return self._count(prompt), self._count(answer) + 1


def count_usage(state, messages: list[dict[str, str]], answer: str) -> tuple[int, int]:
    """Counts with the app's counter, loaded on first use; (0, 0) without one."""
    counter = getattr(state, "token_counter", False)
    if counter is False:
        counter = state.token_counter = TokenCounter.load(state.settings.model)
    return counter.count(messages, answer) if counter else (0, 0)
