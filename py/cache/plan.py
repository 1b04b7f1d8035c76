"""What caching a model gets for a request: the cut its family allows, the signal that can be measured there,
and the notes that say what differs from the request."""

from __future__ import annotations

import dataclasses

import torch

from ..arch import Adapter, adapter_for
from ..capability import SetupError
from .config import CacheConfig, Cut, SignalKind


@dataclasses.dataclass(frozen=True)
class CachePlan:
    """A request resolved for one model.

    config: the request, as the node made it.
    family, model_wrapper: the family's adapter name and the wrapper kind that reaches its diffusion model.
    cut: the cut the model gets (the whole model where the family offers no block replacement).
    signal: the signal measured (the model input where the first blocks cannot be reached).
    first_stage: the stage whose first `cut.first_blocks` blocks always run and decide (None without blocks).
    spans: the cut blocks per stage, (stage, begin, end) with end exclusive, in execution order; empty for a
        whole-model cut.
    notes: what the model got that the request did not ask for, and why.
    """

    config: CacheConfig
    family: str
    model_wrapper: str
    cut: Cut
    signal: SignalKind
    first_stage: str | None = None
    spans: tuple[tuple[str, int, int], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def cut_stages(self) -> tuple[str, ...]:
        return tuple(stage for stage, _, _ in self.spans)

    def describe(self) -> str:
        if self.cut.whole_model:
            return f"{self.family}: whole model"
        spans = ", ".join(f"{stage}s {begin}-{end - 1}" for stage, begin, end in self.spans)
        return f"{self.family}: blocks after the first {self.cut.first_blocks}: {spans}"


def plan_cache(diffusion_model: torch.nn.Module, config: CacheConfig) -> CachePlan:
    """The plan for `config` on this model; a `SetupError` when the model cannot honour it at all."""
    adapter = adapter_for(diffusion_model)
    cut, signal, notes = config.cut, config.signal, []
    if (not cut.whole_model or cut.skip_blocks) and not adapter.stages:
        if cut.skip_blocks:
            raise SetupError(f"{adapter.family} models offer no block replacement in ComfyUI, so blocks cannot be "
                             "skipped; clear the skip lists or use a DiT model.")
        notes.append(f"{adapter.family} offers no block replacement: caching the whole model instead")
        cut = dataclasses.replace(cut, first_blocks=0, last_blocks=0)
        if signal == "first_block":
            signal = "input"
            notes.append("signal: model-input change instead of first-block residual")
    counts = adapter.block_counts(diffusion_model)
    _check_skip_list(adapter, counts, cut)
    spans = () if cut.whole_model else _stage_spans(adapter, counts, cut)
    first_stage = adapter.stages[0].key if adapter.stages else None
    return CachePlan(config, adapter.family, adapter.model_wrapper, cut, signal, first_stage, spans, tuple(notes))


def _stage_spans(adapter: Adapter, counts: tuple[int, ...], cut: Cut) -> tuple[tuple[str, int, int], ...]:
    if cut.first_blocks > counts[0]:
        raise SetupError(f"{adapter.family} has {counts[0]} {adapter.stages[0].key}s; "
                         f"first_blocks must be at most {counts[0]}, got {cut.first_blocks}.")
    spans = []
    for position, (stage, count) in enumerate(zip(adapter.stages, counts, strict=True)):
        begin = cut.first_blocks if position == 0 else 0
        end = count - cut.last_blocks if position == len(counts) - 1 else count
        skipped = {index for key, index in cut.skip_blocks if key == stage.key}
        while begin < end and begin in skipped:
            begin += 1
        while begin < end and end - 1 in skipped:
            end -= 1
        if begin < end:
            spans.append((stage.key, begin, end))
    if not spans:
        raise SetupError(f"{adapter.family} has {sum(counts)} blocks; with first_blocks={cut.first_blocks} "
                         f"and last_blocks={cut.last_blocks} nothing is left to skip. Lower them.")
    return tuple(spans)


def _check_skip_list(adapter: Adapter, counts: tuple[int, ...], cut: Cut) -> None:
    sizes = {stage.key: count for stage, count in zip(adapter.stages, counts, strict=True)}
    for stage, index in cut.skip_blocks:
        if stage not in sizes:
            raise SetupError(f"{adapter.family} has no {stage}s; it has: {', '.join(sizes) or 'no blocks'}.")
        if stage == adapter.stages[0].key and index < cut.first_blocks:
            raise SetupError(f"{stage} {index} is one of the first {cut.first_blocks} blocks that decide the cache; "
                             "it cannot also be skipped.")
        if not 0 <= index < sizes[stage]:
            raise SetupError(f"{adapter.family} has {sizes[stage]} {stage}s (0-{sizes[stage] - 1}); "
                             f"cannot skip {stage} {index}.")
