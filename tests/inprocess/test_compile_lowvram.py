"""ComfyUI's low-VRAM mode under compile. When VRAM runs short ComfyUI partly unloads a model: offloaded layers
are cast per op, and a LoRA on them is applied per op by a `LowVramPatch` keyed by the weight's name. Compiled,
that key made every such block its own entry, and a real model's blocks of one class exhausted torch's recompile
limit. Blocks patched per op run uncompiled instead (and the run says so); the others, cast per op or not, stay
compiled.

A CPU never runs short of memory, so the test unloads the model partly itself, with ComfyUI's own
`ModelPatcher.partially_unload` (what ComfyUI calls under memory pressure), from a PREPARE_SAMPLING wrapper:
after ComfyUI has loaded the model for the run, before the first step.
"""

from __future__ import annotations

import collections

import torch
from comfy.patcher_extension import WrappersMP
from helpers import (
    TOL,
    Events,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample_short,
    sdpa_override,
    with_block_weight_patches,
)

from afterburner.py.comfy_glue import low_vram_patched
from devpack import tiny_models

DEEP = {"depth": 4, "depth_single_blocks": 8}  # several blocks per class: code compiled per block would show


def deep_flux():
    spec = tiny_models.family_spec("flux")
    with torch.inference_mode():
        model = tiny_models.build_from_config(spec.model_class, {**spec.unet_config, **DEEP}, seed=0)
    model.model_options["transformer_options"]["optimized_attention_override"] = sdpa_override
    return model


def compiles_per_class(events: Events) -> dict[str, int]:
    return dict(collections.Counter(e["target"].split(" ")[1] for e in events.compiles))


def low_vram(model, share: float = 0.6):
    """A clone that ComfyUI partly unloads (`share` of its weights) once it is loaded for a run."""
    def unload_after_loading(executor, patcher, *args, **kwargs):
        prepared = executor(patcher, *args, **kwargs)
        patcher.partially_unload(patcher.offload_device, memory_to_free=int(patcher.model_size() * share))
        return prepared

    clone = model.clone()
    clone.add_wrapper_with_key(WrappersMP.PREPARE_SAMPLING, "test.low_vram", unload_after_loading)
    return clone


def per_op_blocks(model) -> dict[str, int]:
    dm = model.get_model_object("diffusion_model")
    stages = ("double_blocks", "single_blocks")
    return {stage: sum(low_vram_patched(block) for block in getattr(dm, stage)) for stage in stages}


def test_low_vram_per_op_lora_patches_run_uncompiled_and_never_multiply_compiled_code():
    base = deep_flux()
    lora = with_block_weight_patches(base)
    eager = sample_short(low_vram(lora), "flux")
    per_op = per_op_blocks(lora)  # (as the run left them)
    assert 0 < sum(per_op.values()) < sum(DEEP.values()), per_op
    torch.testing.assert_close(eager, sample_short(lora, "flux"), **TOL)  # per-op patching is the same LoRA

    torch._dynamo.reset()  # count from scratch (inductor's cache keeps this cheap)
    fast = low_vram(compiled(lora))
    events = Events()
    out = sample_short(fast, "flux")
    torch.testing.assert_close(out, eager, **TOL)
    assert compiles_per_class(events) == {"SingleStreamBlock": 1}, events.compiles  # the double blocks: per op
    assert any("low-VRAM" in n["message"] and f"{sum(per_op.values())} of {sum(DEEP.values())} blocks" in n["message"]
               for n in events.notices), events.notices

    events = Events()  # fully loaded again: every block compiled, and not each on its own
    torch.testing.assert_close(sample_short(compiled(lora), "flux"), sample_short(lora, "flux"), **TOL)
    # (a layer ComfyUI has once offloaded keeps `comfy_cast_weights` as an instance attribute: a second layout)
    assert all(n <= 2 for n in compiles_per_class(events).values()), events.compiles
