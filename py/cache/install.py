"""Put the cache on a model: plan it for the model's family, clone, take off an earlier cache, register the hooks.

Nothing is written to the input model; bypassing the node hands the original back untouched.
"""

from __future__ import annotations

from typing import Any

from comfy.model_patcher import ModelPatcher
from comfy.patcher_extension import WrappersMP

from .. import capability, comfy_glue
from ..run import Enrollment, SamplingRun, enroll
from . import hooks
from .config import CacheConfig
from .plan import CachePlan, plan_cache
from .run_state import CacheRun

_MODEL_WRAPPERS = {"diffusion_model": WrappersMP.DIFFUSION_MODEL, "apply_model": WrappersMP.APPLY_MODEL}
_OURS = "afterburner_cache"  # marks the cache's block replacements, so a later cache node can take them off


def _replacement(stage: str, index: int, span: tuple[int, int], ends_first_blocks: bool, skip: bool) -> Any:
    fn = hooks.block_replacement(stage, index, span, ends_first_blocks, skip)
    setattr(fn, _OURS, True)
    return fn


def _take_off_earlier_cache(patched: ModelPatcher) -> None:
    for kind in (WrappersMP.PREDICT_NOISE, *_MODEL_WRAPPERS.values()):
        patched.remove_wrappers_with_key(kind, hooks.WRAPPER_KEY)
    replacements = comfy_glue.dit_replacements(patched.model_options.get("transformer_options") or {})
    for key in [key for key, fn in replacements.items() if getattr(fn, _OURS, False)]:
        del replacements[key]


def _start(plan: CachePlan) -> Any:
    def start(run: SamplingRun) -> CacheRun:
        return CacheRun(plan, run)

    return start


@capability.handler(CacheConfig)
def install_cache(model: ModelPatcher, config: CacheConfig, node_id: str | None = None,
                  ) -> tuple[ModelPatcher, capability.InstallReport]:
    """A clone of `model` that caches as `config` says, and a report of the cut it got. A cache an earlier
    node put on `model` is replaced, not stacked."""
    diffusion_model = model.get_model_object("diffusion_model")
    plan = plan_cache(diffusion_model, config)
    patched = comfy_glue.clone_patcher(model)
    _take_off_earlier_cache(patched)
    patched.add_wrapper_with_key(WrappersMP.PREDICT_NOISE, hooks.WRAPPER_KEY, hooks.predict_noise)
    model_wrapper = _MODEL_WRAPPERS[plan.model_wrapper]
    for stage, index in plan.cut.skip_blocks:
        patched.set_model_patch_replace(_replacement(stage, index, (0, 0), False, True), "dit", stage, index)
    if plan.cut.whole_model:
        patched.add_wrapper_with_key(model_wrapper, hooks.WRAPPER_KEY, hooks.whole_model_call)
    else:
        patched.add_wrapper_with_key(model_wrapper, hooks.WRAPPER_KEY, hooks.block_model_call)
        last_deciding = plan.cut.first_blocks - 1
        patched.set_model_patch_replace(_replacement(plan.first_stage, last_deciding, (0, 0), True, False),
                                        "dit", plan.first_stage, last_deciding)
        skipped = set(plan.cut.skip_blocks)
        for stage, begin, end in plan.spans:
            for index in range(begin, end):
                if (stage, index) not in skipped:
                    patched.set_model_patch_replace(_replacement(stage, index, (begin, end), False, False), "dit",
                                                    stage, index)
    enroll(patched, hooks.CAPABILITY, Enrollment(f"cache:{config.method}", config.params, node_id, _start(plan)))
    return patched, capability.InstallReport(hooks.CAPABILITY, plan.describe(), plan.notes)

