"""Put compilation on a model: clone it, plan the regions, register the keyed wrappers, load saved artifacts.

Nothing is written to the input model; bypassing the node hands the original back untouched. (While the
compiled clone samples, the weights they share do not require grad: `grad_flags` says why.) Anything that
makes compiling impossible here (cudagraphs without CUDA, no C++ compiler on CPU, no triton on a GPU)
returns an uncompiled clone and says why: the workflow still runs, eagerly.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Mapping
from typing import Any

import torch
from comfy.model_patcher import ModelPatcher
from comfy.patcher_extension import CallbacksMP, WrappersMP

from .. import capability, comfy_glue
from ..run import Enrollment, SamplingRun, enroll, withdraw
from . import persist
from .artifacts import ArtifactStore, default_store
from .config import CompileConfig
from .grad_flags import WeightsWithoutGrad
from .regions import plan_for
from .runtime import WRAPPER_KEY, CompiledModel

log = logging.getLogger("afterburner")
CAPABILITY = "compile"


class CompileRun:
    """Compile's part in one sampling run: how many compiles happened during it."""

    def __init__(self, compiled: CompiledModel) -> None:
        self._observer = compiled.observer
        self._before = compiled.observer.count

    def begin(self) -> None:
        pass

    def finish(self, status: str) -> Mapping[str, Any]:
        return {"compiles": self._observer.count - self._before}


def _blocker(config: CompileConfig, device: torch.device) -> str | None:
    """Why this backend cannot compile on this machine, or None."""
    if config.backend == "cudagraphs":
        if not torch.cuda.is_available():
            return "the cudagraphs backend needs a CUDA GPU and none is available: running uncompiled (eager)"
        if device.type != "cuda":
            return f"the cudagraphs backend needs the model on a CUDA device, it runs on {device}: running uncompiled"
    if config.backend == "inductor":
        if device.type == "cpu" and not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
            return "inductor on CPU needs a C++ compiler (g++ or clang) and none was found: running uncompiled"
        if device.type == "cuda":
            try:
                from torch.utils._triton import has_triton

                if not has_triton():
                    return "inductor on a GPU needs triton, which is not installed: running uncompiled"
            except Exception:  # the probe moved: let inductor say it when it compiles
                pass
    return None


def _attention_note(model: ModelPatcher) -> str | None:
    """ComfyUI's CPU default attention (sub-quadratic, split) graph-breaks and recompiles under compile."""
    if comfy_glue.attention_override(model.model_options.get("transformer_options", {})) is not None:
        return None
    try:
        import comfy.ldm.modules.attention as attention

        name = getattr(attention.optimized_attention, "__name__", "")
    except Exception:
        return None
    if name in ("attention_sub_quad", "attention_split"):
        return (f"ComfyUI's {name.removeprefix('attention_')} attention breaks compiled graphs into pieces and "
                "recompiles per resolution: start ComfyUI with --use-pytorch-cross-attention")
    return None


def _notes_for_mode(config: CompileConfig, device: torch.device) -> list[str]:
    notes = []
    if config.backend != "inductor" and config.mode != "default":
        notes.append(f"mode {config.mode} applies to inductor only; the {config.backend} backend ignores it")
    if config.backend == "inductor" and config.mode == "reduce-overhead" and device.type != "cuda":
        notes.append("reduce-overhead uses CUDA graphs; on CPU it compiles like default")
    return notes


@capability.handler(CompileConfig)
def install_compile(model: ModelPatcher, config: CompileConfig, node_id: str | None = None,
                    store: ArtifactStore | None = None) -> tuple[ModelPatcher, capability.InstallReport]:
    """A clone of `model` that runs compiled as `config` says, and a report of what was done. A compile an
    earlier node put on `model` is replaced, not stacked. The clone keeps its weights in place while it samples
    (compiled code reads them where they are)."""
    patched = comfy_glue.clone_patcher(model, static_weights=True)
    for kind in (WrappersMP.APPLY_MODEL, WrappersMP.DIFFUSION_MODEL):
        patched.remove_wrappers_with_key(kind, WRAPPER_KEY)  # applying the node twice: the last one wins
    for kind in (CallbacksMP.ON_PRE_RUN, CallbacksMP.ON_CLEANUP):
        patched.remove_callbacks_with_key(kind, WRAPPER_KEY)
    withdraw(patched, CAPABILITY)
    diffusion_model = patched.get_model_object("diffusion_model")
    device = torch.device(patched.load_device)
    blocker = _blocker(config, device)
    if blocker is not None:
        return patched, capability.InstallReport(CAPABILITY, f"{type(diffusion_model).__name__}: not compiled",
                                                 (blocker,))

    plan = plan_for(diffusion_model, config)
    notes = [*plan.notes, *_notes_for_mode(config, device)]
    if (note := _attention_note(patched)) is not None:
        notes.append(note)
    if patched.get_wrappers(WrappersMP.APPLY_MODEL, comfy_glue.CORE_COMPILE_WRAPPER_KEY):
        notes.append("ComfyUI's TorchCompileModel is also applied to this model: use one compile node, not both")

    key = loaded = None
    if config.persist:
        store = store or default_store()
        key = persist.artifact_key(diffusion_model, patched.model.get_dtype(), device, config)
        loaded = persist.load(store, key, plan.model_label)
    else:
        store = None
    compiled = CompiledModel(config, plan, store, key)
    # Plain closures, not bound methods: ComfyUI deep-copies model options, and a deep copy of a bound method
    # would copy the CompiledModel (and the model it holds) with it; functions are copied by reference.
    if plan.scope == "whole" and plan.adapter.model_wrapper == "diffusion_model":
        def diffusion_model_wrapper(executor, *args, **kwargs):
            return compiled.diffusion_model_wrapper(executor, *args, **kwargs)

        patched.add_wrapper_with_key(WrappersMP.DIFFUSION_MODEL, WRAPPER_KEY, diffusion_model_wrapper)
    else:
        def apply_model_wrapper(executor, *args, **kwargs):
            return compiled.apply_model_wrapper(executor, *args, **kwargs)

        patched.add_wrapper_with_key(WrappersMP.APPLY_MODEL, WRAPPER_KEY, apply_model_wrapper)
    weights = WeightsWithoutGrad()
    patched.add_callback_with_key(CallbacksMP.ON_PRE_RUN, WRAPPER_KEY, weights.turn_off)
    patched.add_callback_with_key(CallbacksMP.ON_CLEANUP, WRAPPER_KEY, weights.restore)

    def start(run: SamplingRun) -> CompileRun:
        return CompileRun(compiled)

    enroll(patched, CAPABILITY, Enrollment(CAPABILITY, capability.Params(dataclasses.asdict(config)), node_id, start))
    mode = f" {config.mode}" if config.backend == "inductor" else ""
    summary = (f"{plan.describe()}; {config.backend}{mode}, dynamic {config.dynamic}"
               f"{', fullgraph' if config.fullgraph else ''}; compiles at the first sampling step")
    return patched, capability.InstallReport(CAPABILITY, summary, tuple(notes), (loaded,) if loaded else ())
