"""The cache nodes. Each maps the parameters users know from other packs onto one CacheConfig."""

from __future__ import annotations

import dataclasses
import logging

from comfy_api.latest import io

from ..cache.config import CacheConfig, Cut
from ..cache.install import CacheSetupError, install_cache
from ..cache.policies import Budget, Guard, Periodic, Threshold
from ..cache.reuse import REUSE_MODES
from ..telemetry import Notice, get_bus

log = logging.getLogger("afterburner")
CATEGORY = "afterburner/cache"


def _shared_inputs() -> list[io.Input]:
    return [
        io.Combo.Input("cache_mode", options=list(REUSE_MODES), default="default",
                       tooltip="What replaces a skipped step. default: the last computed value. taylor: a 2nd-order "
                               "Taylor extrapolation in sigma from the last computed values (better quality at "
                               "high skip rates, 3 cached copies). adams_bashforth: a damped linear extrapolation "
                               "(2 cached copies)."),
        io.Boolean.Input("offload_to_cpu", default=False,
                         tooltip="Keep cached tensors in CPU memory instead of VRAM: saves VRAM for long videos, "
                                 "costs a copy per step."),
    ]


def _model_input() -> io.Model.Input:
    return io.Model.Input("model", tooltip="The diffusion model to cache. The input model is not modified.")


def _model_output() -> io.Model.Output:
    return io.Model.Output(tooltip="The model with caching; every other node keeps working with it.")


def _skip_list(text: str, stage: str, field: str) -> tuple[tuple[str, int], ...]:
    try:
        return tuple((stage, int(part)) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError(f"{field} must be block numbers separated by commas, like '3,6,8'; got {text!r}.") from None


def apply(node: type[io.ComfyNode], model: io.Model.Type, config: CacheConfig, source: str) -> io.NodeOutput:
    """Install the cache and say what was done (log, sidebar); setup errors become node errors.

    The run's params carry the node's id so the sidebar can badge the node that made each run.
    """
    hidden = getattr(node, "hidden", None)
    if hidden is not None and hidden.unique_id is not None:
        config = dataclasses.replace(config, params={**config.params, "node_id": str(hidden.unique_id)})
    try:
        patched, report = install_cache(model, config)
    except CacheSetupError as err:
        get_bus().emit(Notice("error", source, str(err)))
        raise ValueError(f"{source}: {err}") from None
    log.info("Afterburner %s: %s", source, report.text())
    if report.notes:
        get_bus().emit(Notice("warning", source, report.text()))
    return io.NodeOutput(patched)


class AfterburnerPeriodicCache(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerPeriodicCache",
            display_name="Afterburner Periodic Cache (FORA)",
            category=CATEGORY,
            description="Compute every N-th step after a start step and reuse in between. Predictable speed-up, "
                        "no host sync; interval 1 computes every step (exactly stock ComfyUI).",
            inputs=[
                _model_input(),
                io.Int.Input("cache_interval", default=2, min=1, max=7,
                             tooltip="Compute one step in every N (2 halves the model compute after start_step)."),
                io.Int.Input("start_step", default=2, min=0, max=10,
                             tooltip="Steps computed before caching starts: early steps shape the image."),
                *_shared_inputs(),
            ],
            outputs=[_model_output()],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, cache_interval: int, start_step: int, cache_mode: str,
                offload_to_cpu: bool) -> io.NodeOutput:
        params = {"cache_interval": cache_interval, "start_step": start_step, "cache_mode": cache_mode}
        config = CacheConfig("periodic", params, Periodic(cache_interval, start_step), signal="none",
                             reuse=cache_mode, offload=offload_to_cpu)
        return apply(cls, model, config, "Periodic Cache")


class AfterburnerAdaptiveCache(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerAdaptiveCache",
            display_name="Afterburner Adaptive Cache",
            category=CATEGORY,
            description="Reuse the model output while the model input has changed little since the last computed "
                        "step (relative L1 change, accumulated, per sample and CFG branch, worst one decides).",
            inputs=[
                _model_input(),
                io.Float.Input("threshold", default=0.01, min=0.001, max=0.2, step=0.001,
                               tooltip="Accumulated relative input change that forces a compute. Higher: faster, "
                                       "lower quality."),
                io.Int.Input("max_skip_steps", default=4, min=1, max=5,
                             tooltip="Most steps reused in a row, whatever the signal says."),
                *_shared_inputs(),
            ],
            outputs=[_model_output()],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, threshold: float, max_skip_steps: int, cache_mode: str,
                offload_to_cpu: bool) -> io.NodeOutput:
        params = {"threshold": threshold, "max_skip_steps": max_skip_steps, "cache_mode": cache_mode}
        config = CacheConfig("adaptive", params, Threshold(threshold), Guard(max_consecutive=max_skip_steps),
                             signal="input", reuse=cache_mode, offload=offload_to_cpu)
        return apply(cls, model, config, "Adaptive Cache")


class AfterburnerAutoCache(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerAutoCache",
            display_name="Afterburner Auto Cache (target speed)",
            category=CATEGORY,
            description="Say how much of the model compute to keep; the cache spends that budget on the steps where "
                        "the input changes most. No threshold to tune.",
            inputs=[
                _model_input(),
                io.Float.Input("speed_factor", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of model evaluations to compute: 0.5 is about 2x faster, 1.0 is "
                                       "exactly stock. The first and final steps are always computed."),
                *_shared_inputs(),
            ],
            outputs=[_model_output()],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, speed_factor: float, cache_mode: str, offload_to_cpu: bool) -> io.NodeOutput:
        params = {"speed_factor": speed_factor, "cache_mode": cache_mode}
        config = CacheConfig("auto", params, Budget(speed_factor), signal="input", reuse=cache_mode,
                             offload=offload_to_cpu)
        return apply(cls, model, config, "Auto Cache")


def _first_block_inputs() -> list[io.Input]:
    return [
        io.Float.Input("residual_diff_threshold", default=0.12, min=0.0, max=1.0, step=0.001,
                       tooltip="Relative change of the first blocks' residual since the last computed step under "
                               "which the remaining blocks are skipped. 0 computes every step."),
        io.Float.Input("start", default=0.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Fraction of the steps before which every step is computed."),
        io.Float.Input("end", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Fraction of the steps from which every step is computed."),
        io.Int.Input("max_consecutive_cache_hits", default=-1, min=-1, max=100,
                     tooltip="Most steps reused in a row; -1 for no limit."),
    ]


def _first_block_config(method: str, params: dict, cut: Cut, residual_diff_threshold: float, start: float,
                        end: float, max_consecutive_cache_hits: int, cache_mode: str,
                        offload_to_cpu: bool) -> CacheConfig:
    if start > end:
        raise ValueError(f"start ({start}) must not be after end ({end}).")
    return CacheConfig(method, params, Threshold(residual_diff_threshold, accumulate=False),
                       Guard(start, end, max_consecutive_cache_hits), signal="first_block", reuse=cache_mode,
                       cut=cut, offload=offload_to_cpu)


class AfterburnerFirstBlockCache(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerFirstBlockCache",
            display_name="Afterburner First Block Cache",
            category=CATEGORY,
            description="WaveSpeed-style: the first block always runs; when its residual barely changed since the "
                        "last computed step, the other blocks are skipped. DiT models; others fall back to "
                        "whole-model caching and say so.",
            inputs=[_model_input(), *_first_block_inputs(), *_shared_inputs()],
            outputs=[_model_output()],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, residual_diff_threshold: float, start: float, end: float,
                max_consecutive_cache_hits: int, cache_mode: str, offload_to_cpu: bool) -> io.NodeOutput:
        params = {"residual_diff_threshold": residual_diff_threshold, "start": start, "end": end,
                  "max_consecutive_cache_hits": max_consecutive_cache_hits, "cache_mode": cache_mode}
        config = _first_block_config("first_block", params, Cut(first_blocks=1), residual_diff_threshold, start,
                                     end, max_consecutive_cache_hits, cache_mode, offload_to_cpu)
        return apply(cls, model, config, "First Block Cache")


class AfterburnerBlockCache(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerBlockCache",
            display_name="Afterburner Multi-Block Cache",
            category=CATEGORY,
            description="The first N blocks decide and always run, the last M blocks always run, the middle is "
                        "cached (cache-dit's DBCache). Optional skip lists remove blocks on every step "
                        "(Lightning's skip_DoubleStreamBlocks / skip_SingleStreamBlocks).",
            inputs=[
                _model_input(),
                io.Int.Input("first_blocks", default=1, min=1, max=64,
                             tooltip="Blocks at the start that always run and whose residual decides."),
                io.Int.Input("last_blocks", default=0, min=0, max=64,
                             tooltip="Blocks at the end that always run (they refine what the cache returns)."),
                *_first_block_inputs(),
                io.String.Input("skip_double_blocks", default="",
                                tooltip="Double-stream (or only-stage) block numbers to skip on every step, e.g. "
                                        "'3,6,8,12'. Empty skips none."),
                io.String.Input("skip_single_blocks", default="",
                                tooltip="Single-stream block numbers to skip on every step (Flux, Chroma, "
                                        "HunyuanVideo). Empty skips none."),
                *_shared_inputs(),
            ],
            outputs=[_model_output()],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, first_blocks: int, last_blocks: int, residual_diff_threshold: float, start: float,
                end: float, max_consecutive_cache_hits: int, skip_double_blocks: str, skip_single_blocks: str,
                cache_mode: str, offload_to_cpu: bool) -> io.NodeOutput:
        skips = (_skip_list(skip_double_blocks, "double_block", "skip_double_blocks")
                 + _skip_list(skip_single_blocks, "single_block", "skip_single_blocks"))
        params = {"first_blocks": first_blocks, "last_blocks": last_blocks,
                  "residual_diff_threshold": residual_diff_threshold, "start": start, "end": end,
                  "max_consecutive_cache_hits": max_consecutive_cache_hits, "skip_double_blocks": skip_double_blocks,
                  "skip_single_blocks": skip_single_blocks, "cache_mode": cache_mode}
        cut = Cut(first_blocks=first_blocks, last_blocks=last_blocks, skip_blocks=skips)
        config = _first_block_config("multi_block", params, cut, residual_diff_threshold, start, end,
                                     max_consecutive_cache_hits, cache_mode, offload_to_cpu)
        return apply(cls, model, config, "Multi-Block Cache")


CACHE_NODES: tuple[type[io.ComfyNode], ...] = (
    AfterburnerPeriodicCache,
    AfterburnerAdaptiveCache,
    AfterburnerAutoCache,
    AfterburnerFirstBlockCache,
    AfterburnerBlockCache,
)
