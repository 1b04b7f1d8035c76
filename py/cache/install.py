"""Put the cache on a model: clone it, resolve the cut for its family, register the hooks.

Nothing is written to the input model; bypassing the node hands the original back untouched.
"""

from __future__ import annotations

import dataclasses

from comfy.model_patcher import ModelPatcher
from comfy.patcher_extension import WrappersMP

from ..arch import Adapter, adapter_for
from . import hooks
from .config import CacheConfig


class CacheSetupError(ValueError):
    """A cache request this model cannot honour; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class InstallReport:
    """What `install_cache` did, for the node's log line and the sidebar."""

    family: str
    cut: str
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        return "; ".join((f"{self.family}: {self.cut}", *self.notes))


def _stage_spans(adapter: Adapter, counts: tuple[int, ...], config: CacheConfig) -> dict[str, tuple[int, int]]:
    cut = config.cut
    if cut.first_blocks > counts[0]:
        raise CacheSetupError(f"{adapter.family} has {counts[0]} {adapter.stages[0].key}s; "
                              f"first_blocks must be at most {counts[0]}, got {cut.first_blocks}.")
    spans = {}
    for position, (stage, count) in enumerate(zip(adapter.stages, counts, strict=True)):
        begin = cut.first_blocks if position == 0 else 0
        end = count - cut.last_blocks if position == len(counts) - 1 else count
        skipped = {index for key, index in cut.skip_blocks if key == stage.key}
        while begin < end and begin in skipped:
            begin += 1
        while begin < end and end - 1 in skipped:
            end -= 1
        if begin < end:
            spans[stage.key] = (begin, end)
    if not spans:
        raise CacheSetupError(f"{adapter.family} has {sum(counts)} blocks; with first_blocks={cut.first_blocks} "
                              f"and last_blocks={cut.last_blocks} nothing is left to skip. Lower them.")
    return spans


def _check_skip_list(adapter: Adapter, counts: tuple[int, ...], config: CacheConfig) -> None:
    sizes = {stage.key: count for stage, count in zip(adapter.stages, counts, strict=True)}
    for stage, index in config.cut.skip_blocks:
        if stage not in sizes:
            raise CacheSetupError(f"{adapter.family} has no {stage}s; it has: {', '.join(sizes) or 'no blocks'}.")
        if stage == adapter.stages[0].key and index < config.cut.first_blocks:
            raise CacheSetupError(f"{stage} {index} is one of the first {config.cut.first_blocks} blocks that "
                                  "decide the cache; it cannot also be skipped.")
        if not 0 <= index < sizes[stage]:
            raise CacheSetupError(f"{adapter.family} has {sizes[stage]} {stage}s (0-{sizes[stage] - 1}); "
                                  f"cannot skip {stage} {index}.")


def install_cache(model: ModelPatcher, config: CacheConfig) -> tuple[ModelPatcher, InstallReport]:
    """A clone of `model` that caches as `config` says, and a report of the cut it got."""
    diffusion_model = model.get_model_object("diffusion_model")
    adapter = adapter_for(diffusion_model)
    notes: list[str] = []
    wants_blocks = not config.cut.whole_model or config.cut.skip_blocks
    if wants_blocks and not adapter.stages:
        if config.cut.skip_blocks:
            raise CacheSetupError(f"{adapter.family} models offer no block replacement in ComfyUI, so blocks "
                                  "cannot be skipped; clear the skip lists or use a DiT model.")
        notes.append(f"{adapter.family} offers no block replacement: caching the whole model instead")
        config = dataclasses.replace(config, cut=dataclasses.replace(config.cut, first_blocks=0, last_blocks=0))
        if config.signal == "first_block":
            config = dataclasses.replace(config, signal="input")
            notes.append("signal: model-input change instead of first-block residual")

    patched = model.clone()
    for kind, fn in ((WrappersMP.OUTER_SAMPLE, hooks.outer_sample), (WrappersMP.SAMPLER_SAMPLE, hooks.sampler_sample),
                     (WrappersMP.PREDICT_NOISE, hooks.predict_noise)):
        patched.add_wrapper_with_key(kind, hooks.WRAPPER_KEY, fn)
    model_wrapper = WrappersMP.DIFFUSION_MODEL if adapter.model_wrapper == "diffusion_model" else WrappersMP.APPLY_MODEL

    counts = adapter.block_counts(diffusion_model)
    _check_skip_list(adapter, counts, config)
    for stage, index in config.cut.skip_blocks:
        patched.set_model_patch_replace(hooks.block_replacement(stage, index, (0, 0), False, True), "dit", stage,
                                        index)
    if config.cut.whole_model:
        patched.add_wrapper_with_key(model_wrapper, hooks.WRAPPER_KEY, hooks.whole_model_call)
        cut = "whole model"
    else:
        spans = _stage_spans(adapter, counts, config)
        config = dataclasses.replace(config, cut_stages=tuple(spans))
        patched.add_wrapper_with_key(model_wrapper, hooks.WRAPPER_KEY, hooks.block_model_call)
        first_stage = adapter.stages[0].key
        patched.set_model_patch_replace(
            hooks.block_replacement(first_stage, config.cut.first_blocks - 1, (0, 0), True, False),
            "dit", first_stage, config.cut.first_blocks - 1)
        skipped = set(config.cut.skip_blocks)
        for stage, (begin, end) in spans.items():
            for index in range(begin, end):
                if (stage, index) not in skipped:
                    patched.set_model_patch_replace(
                        hooks.block_replacement(stage, index, (begin, end), False, False), "dit", stage, index)
        cut = ", ".join(f"{stage}s {begin}-{end - 1}" for stage, (begin, end) in spans.items())
        cut = f"blocks after the first {config.cut.first_blocks}: {cut}"
    patched.model_options["transformer_options"][hooks.CONFIG_KEY] = config
    return patched, InstallReport(adapter.family, cut, tuple(notes))
