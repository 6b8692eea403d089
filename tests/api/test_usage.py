"""The chat endpoint's token counts equal what transformers (and so vLLM) counts."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from api.usage import TokenCounter
from guardq.settings import DEMO_MODEL


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "How do I bake bread?"}],
        [{"role": "user", "content": "Ünïcödé 🙂 " * 200}],
        [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "No.\n\nSorry."}],
    ],
)
def test_prompt_and_completion_tokens_are_counted_as_transformers_does(messages):
    counter = TokenCounter.load(str(DEMO_MODEL))
    tokenizer = AutoTokenizer.from_pretrained(DEMO_MODEL)
    answer = "Safety: Unsafe\nCategories: Violent, PII"
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    expected_prompt = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    expected_answer = len(tokenizer(answer, add_special_tokens=False)["input_ids"]) + 1
    assert counter.count(messages, answer) == (expected_prompt, expected_answer)


def test_a_model_without_tokenizer_files_has_no_counter(tmp_path):
    assert TokenCounter.load(str(tmp_path)) is None
    assert TokenCounter.load("no-such-org/no-such-model") is None
