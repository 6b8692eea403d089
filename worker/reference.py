"""The yardstick: what the model card does, one item at a time.

``apply_chat_template`` to a string, ``tokenizer([text])``, ``generate(max_new_tokens=
128, do_sample=False)``, decode the new tokens, parse. No batching, no cache reuse, no
chunking: the engine must agree with this, verdict for verdict. One change from the
model card, the same as the engine's: special-token strings inside submitted content
are tokenised as plain text (``worker.rendering``), so that content cannot close its
turn and forge the model's answer; for any other content the ids are the model card's.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from guardq.aggregate import aggregate
from guardq.inputs import ResponseInput, coerce_inputs
from guardq.output import parse_output
from guardq.verdict import Span, Verdict
from worker.chunking import Unit, plan_units
from worker.prefix import render_ids
from worker.severity import SeverityTokens


def reference_generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    messages: list[dict[str, str]],
    *,
    max_new_tokens: int = 128,
    ignore_eos: bool = False,
) -> tuple[list[int], list[torch.Tensor]]:
    """The model card's call: the new token ids, and the logits of each step."""
    input_ids = torch.tensor([render_ids(tokenizer, messages)], device=model.device)
    model_inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    extra = {"min_new_tokens": max_new_tokens} if ignore_eos else {}
    with torch.inference_mode():
        out = model.generate(
            **model_inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            **extra,
        )
    output_ids = out.sequences[0][input_ids.shape[1] :].tolist()
    return output_ids, [step[0] for step in out.logits]


def reference_moderate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    item: object,
    *,
    max_new_tokens: int = 128,
    ignore_eos: bool = False,
) -> Verdict:
    """Moderate one input the model card's way; the verdict of its whole content.

    The verdict carries ``span`` (the whole content) and ``scores`` read from the
    generate call's logits, like the engine's chunk verdicts do.
    """
    (one,) = coerce_inputs([item])
    unit = Unit(
        item=0,
        chunk=0,
        mode=one.mode,
        content=one.content,
        span=Span(0, len(one.content)),
        prompt=one.prompt if isinstance(one, ResponseInput) else None,
    )
    return _moderate_unit(model, tokenizer, unit, max_new_tokens, ignore_eos)


def reference_moderate_chunked(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    item: object,
    *,
    chunk_tokens: int,
    chunk_overlap: int,
    max_new_tokens: int = 128,
    ignore_eos: bool = False,
) -> Verdict:
    """The reference for content longer than a window: the model card's call on each
    window's text (as ``worker.chunking`` cuts it), aggregated as the engine does."""
    units = plan_units(
        coerce_inputs([item]), tokenizer, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap
    )
    return aggregate(
        [_moderate_unit(model, tokenizer, unit, max_new_tokens, ignore_eos) for unit in units]
    )


def _moderate_unit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    unit: Unit,
    max_new_tokens: int,
    ignore_eos: bool,
) -> Verdict:
    output_ids, logits = reference_generate(
        model, tokenizer, unit.messages(), max_new_tokens=max_new_tokens, ignore_eos=ignore_eos
    )
    verdict = parse_output(tokenizer.decode(output_ids, skip_special_tokens=True), unit.mode)
    severity = SeverityTokens.find(tokenizer)
    scores = None
    if severity.ids is not None:
        hits = [
            (step, severity.candidates(logits[step][None])[0].tolist())
            for step, token in enumerate(output_ids)
            if token in severity.ids
        ]
        scores = severity.pick(tokenizer, output_ids, hits)
    return replace(verdict, span=unit.span, scores=scores)
