"""The engine's front door: ``GuardEngine.load(...)``, ``warmup()``, ``moderate(inputs)``.

One call moderates any mix of prompt and response inputs. Behind it: inputs are
validated, cut into token windows (``worker.chunking``), rendered by the model's own
chat template (``worker.prefix``), grouped by mode so that each group reuses its
header's KV cache, packed into batches of similar length (``worker.batching``),
greedy-decoded (``worker.decode``), parsed by ``guardq.output.parse_output`` and
aggregated per item by ``guardq.aggregate.aggregate``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from guardq.aggregate import aggregate
from guardq.inputs import PromptInput, ResponseInput, coerce_inputs
from guardq.output import parse_output
from guardq.settings import get_settings
from guardq.verdict import Mode, Verdict
from worker.batching import pack, waves
from worker.chunking import Unit, plan_units
from worker.decode import BatchTimes, Generation, generate
from worker.drafts import Drafts
from worker.errors import EngineOutOfMemoryError, UnsupportedModelError
from worker.forward import Forward, PrefixKV
from worker.loading import load_model
from worker.params import EngineParams
from worker.placement import Placement, choose_placement
from worker.prefix import Prefix, render_ids
from worker.results import Moderation, Timings
from worker.severity import SeverityTokens

log = logging.getLogger(__name__)

# Batches decode together in waves of up to this many batches' worth of KV cache: a
# decode step costs about the same for few rows as for many (it reads every weight
# once), so a last batch of a few long rows should not decode alone. The cache held at
# once is bounded by this many times GUARDQ_MAX_BATCH_TOKENS.
_WAVE_BATCHES = 4


def eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """The tokens that end an answer: those ``generate`` stops on for this model."""
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or ())
    if not ids:
        raise UnsupportedModelError(
            "the model has no end-of-sequence token (generation_config.eos_token_id or "
            "the tokenizer's eos_token); the engine could not tell where an answer ends"
        )
    return frozenset(ids)


@dataclass(frozen=True)
class PlannedUnit:
    """One unit as the model sees it: ``prefix.ids + own_ids`` are exactly the ids of
    the official rendering of ``unit``; ``prefix`` is None when it cannot be reused."""

    unit: Unit
    prefix: Prefix | None
    own_ids: list[int]


class GuardEngine:
    """A loaded Qwen3Guard-Gen model that moderates batches of inputs."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        params: EngineParams | None = None,
        placement: Placement | None = None,
        name: str = "",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.params = params or EngineParams.from_settings()
        self.name = name or getattr(model, "name_or_path", "")
        self._forward = Forward(model)
        self.placement = placement or Placement(self._forward.device, self._forward.dtype)
        self._severity = SeverityTokens.find(tokenizer)
        self._eos = eos_ids(model, tokenizer)
        self._prefixes: dict[Mode, tuple[Prefix, PrefixKV]] = {}
        # Earlier answers, per mode, as drafts for the next ones (worker.drafts).
        self._drafts: dict[Mode | None, Drafts] = {}

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        params: EngineParams | None = None,
    ) -> GuardEngine:
        """Load ``model`` (a Hub id or a local directory) onto ``device``.

        Whatever is not given comes from ``guardq.settings.get_settings()``
        (``GUARDQ_MODEL``, ``GUARDQ_DEVICE``, ``GUARDQ_DTYPE`` and the batching knobs).
        Raises ``ModelLoadError`` naming the missing file and the fix,
        ``DeviceError`` for a GPU that does not exist, ``EngineOutOfMemoryError``.
        """
        settings = get_settings()
        model = model or settings.model
        placement = choose_placement(device or settings.device, dtype or settings.dtype)
        loaded, tokenizer = load_model(model, placement)
        engine = cls(
            loaded,
            tokenizer,
            params=params or EngineParams.from_settings(settings),
            placement=placement,
            name=model,
        )
        log.info(
            "loaded %s on %s (%s)%s",
            model,
            placement.device,
            str(placement.dtype).removeprefix("torch."),
            f"; {placement.note}" if placement.note else "",
        )
        return engine

    def warmup(self) -> Timings:
        """Build both modes' header caches and run one dummy batch of each mode."""
        dummy = [PromptInput("Hello."), ResponseInput("Hello.", "Hi! How can I help?")]
        return self.moderate(dummy).timings

    def moderate(self, inputs: object) -> Moderation:
        """Moderate one input or a list of them; one ``Verdict`` per input, in order.

        Inputs: ``PromptInput(text)`` or a plain string (prompt moderation),
        ``ResponseInput(prompt, response)``, or mappings ``{"text": ...}`` /
        ``{"prompt": ..., "response": ...}``. Raises ``ValueError`` naming the index of a
        bad input. An answer that does not parse gives a verdict with ``severity=None``
        and the reason in ``error``: it is never read as Safe.
        """
        tally = _Tally(started=time.perf_counter())
        items = coerce_inputs(inputs)
        verdicts: list[Verdict | None] = [None] * len(items)
        for ready in self._stream(items, tally):
            for index, verdict in ready:
                verdicts[index] = verdict
        return Moderation(verdicts, tally.timings(len(items)))

    def stream(self, inputs: object) -> Iterator[list[tuple[int, Verdict]]]:
        """Moderate ``inputs`` as ``moderate`` does, handing verdicts over as they are
        ready: after each decode wave, the items all of whose windows are judged, as
        ``(index into inputs, verdict)`` pairs; every index once in all.

        The caller may store one wave's verdicts while the next wave runs, and may stop
        early by closing the generator (what was not handed over was not judged). One
        stream over many items decodes as fast as one ``moderate`` call over them all;
        the same items in several calls do not, since every call ends in a part-filled
        wave. Bad inputs raise ``ValueError`` here, before anything runs."""
        tally = _Tally(started=time.perf_counter())
        return self._stream(coerce_inputs(inputs), tally)

    @contextmanager
    def _running(self, items: int) -> Iterator[None]:
        """Inference mode for the model's work, and out-of-memory errors made ours.
        Entered per step, never across a ``yield``: inference mode is per thread, and
        the caller's code runs between the steps of a stream."""
        try:
            with torch.inference_mode():
                yield
        except torch.OutOfMemoryError as exc:
            if self.placement.device.type == "cuda":
                # Give the failed batch's memory back so the worker can take the next one.
                torch.cuda.empty_cache()
            raise EngineOutOfMemoryError(
                f"moderating {items} item(s) on {self.placement.device}", str(exc)
            ) from exc

    def _prefix(self, mode: Mode) -> tuple[Prefix, PrefixKV]:
        if mode not in self._prefixes:
            prefix = Prefix.find(self.tokenizer, mode)
            self._prefixes[mode] = (prefix, self._forward.prefix_kv(prefix.ids))
        return self._prefixes[mode]

    def plan(self, inputs: object) -> list[PlannedUnit]:
        """What the model will see for ``inputs``: their units, in order, each with the
        header it reuses (or None) and its own token ids after that header."""
        params = self.params
        units = plan_units(
            coerce_inputs(inputs),
            self.tokenizer,
            chunk_tokens=params.chunk_tokens,
            chunk_overlap=params.chunk_overlap,
        )
        planned = []
        for unit in units:
            ids = render_ids(self.tokenizer, unit.messages())
            prefix = self._prefix(unit.mode)[0] if params.prefix_cache else None
            if prefix is not None and not prefix.matches(ids):
                log.debug("a %s unit does not start with the header ids", unit.mode.value)
                prefix = None
            own = ids[len(prefix) :] if prefix is not None else ids
            planned.append(PlannedUnit(unit=unit, prefix=prefix, own_ids=own))
        return planned

    def _stream(self, items: list, tally: _Tally) -> Iterator[list[tuple[int, Verdict]]]:
        params = self.params
        with self._running(len(items)):
            planned = self.plan(items)
        units = [p.unit for p in planned]
        # Units grouped by the header cache they reuse (None: none, run whole).
        groups: dict[Mode | None, list[tuple[int, list[int]]]] = defaultdict(list)
        for index, p in enumerate(planned):
            groups[p.prefix.mode if p.prefix else None].append((index, p.own_ids))
        # Per item, its units in order, and how many are still to be judged.
        item_units: list[list[int]] = [[] for _ in items]
        for index, unit in enumerate(units):
            item_units[unit.item].append(index)
        waiting = [len(indices) for indices in item_units]
        tally.planned(planned, groups)

        generations: dict[int, Generation] = {}
        for mode, members in groups.items():
            lengths = [len(ids) for _, ids in members]
            batches = pack(
                lengths, budget=params.max_batch_tokens, max_new_tokens=params.max_new_tokens
            )
            for wave in waves(
                batches,
                lengths,
                max_new_tokens=params.max_new_tokens,
                limit=_WAVE_BATCHES * params.max_batch_tokens,
            ):
                with self._running(len(items)):
                    kv = self._prefix(mode)[1] if mode is not None else None
                    results = generate(
                        self._forward,
                        [[[members[i][1] for i in group] for group in batch] for batch in wave],
                        kv,
                        max_new_tokens=params.max_new_tokens,
                        eos_ids=self._eos,
                        severity=self._severity,
                        ignore_eos=params.ignore_eos,
                        merge_limit=params.max_batch_tokens,
                        times=tally.times,
                        drafts=self._drafts.setdefault(mode, Drafts()) if params.drafts else None,
                    )
                tally.batches += len(wave)
                finishing = time.perf_counter()
                ready = []
                order = [i for batch in wave for group in batch for i in group]
                for i, result in zip(order, results, strict=True):
                    unit_index = members[i][0]
                    generations[unit_index] = result
                    tally.generated_tokens += len(result.token_ids) + result.ended
                    item = units[unit_index].item
                    waiting[item] -= 1
                    if not waiting[item]:
                        chunks = [
                            self._chunk_verdict(units[u], generations.pop(u))
                            for u in item_units[item]
                        ]
                        ready.append((item, aggregate(chunks)))
                tally.finish_s += time.perf_counter() - finishing
                if ready:
                    yield ready
        tally.ended = time.perf_counter()

    def _chunk_verdict(self, unit: Unit, generation: Generation) -> Verdict:
        text = self.tokenizer.decode(generation.token_ids, skip_special_tokens=True)
        verdict = parse_output(text, unit.mode)
        if not verdict.parsed and not generation.ended:
            verdict = replace(
                verdict,
                error=f"{verdict.error} (answer cut at max_new_tokens="
                f"{self.params.max_new_tokens})",
            )
        scores = None
        if self._severity.ids is not None:
            scores = self._severity.pick(self.tokenizer, generation.token_ids, generation.hits)
        return replace(verdict, span=unit.span, scores=scores)


@dataclass
class _Tally:
    """What one ``moderate`` call or stream did and where its time went, gathered as
    it runs (``Timings`` when it is done)."""

    started: float
    planned_at: float = 0.0
    ended: float = 0.0
    finish_s: float = 0.0
    times: BatchTimes = field(default_factory=BatchTimes)
    batches: int = 0
    units: int = 0
    own_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    uncached_units: int = 0

    def planned(self, planned: list[PlannedUnit], groups: dict) -> None:
        self.planned_at = time.perf_counter()
        self.units = len(planned)
        self.own_tokens = sum(len(p.own_ids) for p in planned)
        self.cached_tokens = sum(len(p.prefix) for p in planned if p.prefix)
        self.uncached_units = len(groups.get(None, ()))

    def timings(self, items: int) -> Timings:
        return Timings(
            total_s=(self.ended or time.perf_counter()) - self.started,
            plan_s=self.planned_at - self.started,
            prefill_s=self.times.prefill_s,
            decode_s=self.times.decode_s,
            finish_s=self.finish_s,
            items=items,
            units=self.units,
            batches=self.batches,
            decode_steps=self.times.steps,
            own_tokens=self.own_tokens,
            cached_tokens=self.cached_tokens,
            generated_tokens=self.generated_tokens,
            uncached_units=self.uncached_units,
        )
