"""The cache nodes. Each maps the parameters users know from other packs onto one CacheConfig."""

from __future__ import annotations

from typing import Any, ClassVar

from comfy_api.latest import io

from ..cache import install as _install  # noqa: F401 - registers the cache's install handler
from ..cache.config import CacheConfig, Cut
from ..cache.policies import Budget, Guard, Periodic, Threshold
from ..cache.reuse import REUSE_MODES
from ..capability import ConfigError
from .capability_node import CapabilityNode

CATEGORY = "afterburner/cache"


class CacheNode(CapabilityNode):
    """MODEL in, cached MODEL out. A subclass sets TITLE and DESCRIPTION and defines two classmethods:
    `own_inputs() -> list[io.Input]`, its widgets between the model and the shared cache_mode/offload_to_cpu,
    and `config(params, reuse, offload) -> CacheConfig`, the cache those inputs ask for.
    """

    DESCRIPTION: ClassVar[str]

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=cls.__name__,
            display_name=f"Afterburner {cls.TITLE}",
            category=CATEGORY,
            description=cls.DESCRIPTION,
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to cache. The input model is not modified."),
                *cls.own_inputs(),
                io.Combo.Input("cache_mode", options=list(REUSE_MODES), default="default",
                               tooltip="What replaces a skipped step. default: the last computed value. taylor: a "
                                       "Taylor extrapolation in sigma from the last computed values, linear plus "
                                       "as much of the 2nd-order term as forecast the last computed step (best "
                                       "at high skip rates, 3 cached copies). adams_bashforth: a damped linear "
                                       "extrapolation (2 cached copies)."),
                io.Boolean.Input("offload_to_cpu", default=False,
                                 tooltip="Keep cached tensors in CPU memory instead of VRAM: saves VRAM for long "
                                         "videos, costs a copy per step."),
            ],
            outputs=[io.Model.Output(tooltip="The model with caching; every other node keeps working with it.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def request(cls, cache_mode: str, offload_to_cpu: bool, **params: Any) -> CacheConfig:
        return cls.config({**params, "cache_mode": cache_mode}, cache_mode, offload_to_cpu)


class AfterburnerPeriodicCache(CacheNode):
    TITLE = "Periodic Cache (FORA)"
    DESCRIPTION = ("Compute every N-th step after a start step and reuse in between. Predictable speed-up, no "
                   "host sync; interval 1 computes every step (exactly stock ComfyUI).")

    @classmethod
    def own_inputs(cls) -> list[io.Input]:
        return [
            io.Int.Input("cache_interval", default=2, min=1, max=7,
                         tooltip="Compute one step in every N (2 halves the model compute after start_step)."),
            io.Int.Input("start_step", default=2, min=0, max=10,
                         tooltip="Steps computed before caching starts: early steps shape the image."),
        ]

    @classmethod
    def config(cls, params: dict[str, Any], reuse: str, offload: bool) -> CacheConfig:
        return CacheConfig("periodic", params, Periodic(params["cache_interval"], params["start_step"]),
                           signal="none", reuse=reuse, offload=offload)


class AfterburnerAdaptiveCache(CacheNode):
    TITLE = "Adaptive Cache"
    DESCRIPTION = ("Reuse the model output while the model input has changed little since the last computed step "
                   "(relative L1 change, accumulated, per sample and CFG branch, worst one decides).")

    @classmethod
    def own_inputs(cls) -> list[io.Input]:
        return [
            io.Float.Input("threshold", default=0.01, min=0.001, max=0.2, step=0.001,
                           tooltip="Accumulated relative input change that forces a compute. Higher: faster, lower "
                                   "quality."),
            io.Int.Input("max_skip_steps", default=4, min=1, max=5,
                         tooltip="Most steps reused in a row, whatever the signal says."),
        ]

    @classmethod
    def config(cls, params: dict[str, Any], reuse: str, offload: bool) -> CacheConfig:
        return CacheConfig("adaptive", params, Threshold(params["threshold"]),
                           Guard(max_consecutive=params["max_skip_steps"]), signal="input", reuse=reuse,
                           offload=offload)


class AfterburnerAutoCache(CacheNode):
    TITLE = "Auto Cache (target speed)"
    DESCRIPTION = ("Say how much of the model compute to keep; the cache spends that budget on the steps where "
                   "the input changes most. No threshold to tune.")

    @classmethod
    def own_inputs(cls) -> list[io.Input]:
        return [io.Float.Input("speed_factor", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of model evaluations to compute: 0.5 is about 2x faster, 1.0 is "
                                       "exactly stock. The first and final steps are always computed.")]

    @classmethod
    def config(cls, params: dict[str, Any], reuse: str, offload: bool) -> CacheConfig:
        return CacheConfig("auto", params, Budget(params["speed_factor"]), signal="input", reuse=reuse,
                           offload=offload)


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


def _first_block_config(method: str, params: dict[str, Any], cut: Cut, reuse: str, offload: bool) -> CacheConfig:
    return CacheConfig(method, params, Threshold(params["residual_diff_threshold"], accumulate=False),
                       Guard(params["start"], params["end"], params["max_consecutive_cache_hits"]),
                       signal="first_block", reuse=reuse, cut=cut, offload=offload)


class AfterburnerFirstBlockCache(CacheNode):
    TITLE = "First Block Cache"
    DESCRIPTION = ("WaveSpeed-style: the first block always runs; when its residual barely changed since the last "
                   "computed step, the other blocks are skipped. DiT models; others fall back to whole-model "
                   "caching and say so.")

    @classmethod
    def own_inputs(cls) -> list[io.Input]:
        return _first_block_inputs()

    @classmethod
    def config(cls, params: dict[str, Any], reuse: str, offload: bool) -> CacheConfig:
        return _first_block_config("first_block", params, Cut(first_blocks=1), reuse, offload)


def _skip_list(text: str, stage: str, field: str) -> tuple[tuple[str, int], ...]:
    try:
        return tuple((stage, int(part)) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError(field, f"must be block numbers separated by commas, like '3,6,8'; got {text!r}.") from None


class AfterburnerBlockCache(CacheNode):
    TITLE = "Multi-Block Cache"
    DESCRIPTION = ("The first N blocks decide and always run, the last M blocks always run, the middle is cached "
                   "(cache-dit's DBCache). Optional skip lists remove blocks on every step (Lightning's "
                   "skip_DoubleStreamBlocks / skip_SingleStreamBlocks).")

    @classmethod
    def own_inputs(cls) -> list[io.Input]:
        return [
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
        ]

    @classmethod
    def config(cls, params: dict[str, Any], reuse: str, offload: bool) -> CacheConfig:
        skips = (_skip_list(params["skip_double_blocks"], "double_block", "skip_double_blocks")
                 + _skip_list(params["skip_single_blocks"], "single_block", "skip_single_blocks"))
        cut = Cut(first_blocks=params["first_blocks"], last_blocks=params["last_blocks"], skip_blocks=skips)
        return _first_block_config("multi_block", params, cut, reuse, offload)


CACHE_NODES: tuple[type[io.ComfyNode], ...] = (
    AfterburnerPeriodicCache,
    AfterburnerAdaptiveCache,
    AfterburnerAutoCache,
    AfterburnerFirstBlockCache,
    AfterburnerBlockCache,
)
