"""Helpers the in-process test modules share: sampling the tiny models, applying Afterburner's nodes, reading
run records, spying on model calls. One definition per name: a helper that behaves differently has another
name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import comfy.sample
import folder_paths
import pytest
import torch
from comfy.ldm.modules.attention import attention_pytorch
from comfy.patcher_extension import WrappersMP

from afterburner.py.arch import adapter_for
from afterburner.py.compile import persist
from afterburner.py.compile.artifacts import FOLDER_NAME
from afterburner.py.nodes.cache_nodes import (
    AfterburnerAutoCache,
    AfterburnerBlockCache,
    AfterburnerFirstBlockCache,
    AfterburnerPeriodicCache,
)
from afterburner.py.nodes.compile_nodes import AfterburnerCompile
from afterburner.py.telemetry import get_bus
from devpack import tiny_models
from devpack.tiny_models import VIDEO_FAMILIES

STEPS = 8  # at least the engine's min_steps (5): the cache is live in every run below
CFG = 3.0
SHORT_STEPS = 3  # compiling on CPU is slow: compile tests sample few steps and few shapes
TOL = {"rtol": 1e-3, "atol": 1e-3}  # compiled against eager
# Compiles per block class in a family's first call. Wan's first block gets a non-contiguous input (patch
# embedding, transposed), the others a contiguous one: a stride guard. The first call compiles both layouts,
# after which the compiled blocks pass that input contiguous (layouts.Layouts): one entry per change again.
# Lumina2's context refiner has no modulation (`adaln_input` None), its other blocks do: two entries. Its rope
# table, sliced for the refiners, is always passed contiguous (`CompileFacts.contiguous_inputs`), or the first
# call would compile a third.
FIRST_CALL_COMPILES = {"flux": 1, "wan21": 2, "lumina2": 2}

# ------------------------------------------------------------------------------------------------------------
# cache: sampling, the five nodes, run records, spies
# ------------------------------------------------------------------------------------------------------------


def latent_for(family: str, batch: int = 1, width: int = 64, height: int = 64) -> torch.Tensor:
    return tiny_models.empty_latent(family, batch, width, height, frames=5 if family in VIDEO_FAMILIES else 1)


def sample(model, family: str, *, steps: int = STEPS, cfg: float = 1.0, sampler: str = "euler", seed: int = 1,
           batch: int = 1, width: int = 64, height: int = 64, split: bool = False, noise: torch.Tensor | None = None,
           latent: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
    """One `comfy.sample.sample` run, under inference mode as ComfyUI's executor runs every prompt.

    split: the negative gets 3 tokens against the positive's 8, which ComfyUI cannot pad into one batch,
    so cond and uncond reach the model in separate calls."""
    latent = latent_for(family, batch, width, height) if latent is None else latent
    noise = comfy.sample.prepare_noise(latent, seed) if noise is None else noise
    positive = tiny_models.conditioning(family, seed=1)
    negative = tiny_models.conditioning(family, seed=2, tokens=3 if split else 8)
    with torch.inference_mode():
        return comfy.sample.sample(model, noise, steps, cfg, sampler, "simple", positive, negative, latent,
                                   seed=seed, disable_pbar=True, **kwargs)


def periodic(model, interval: int = 2, start_step: int = 2, mode: str = "default"):
    return AfterburnerPeriodicCache.execute(model, cache_interval=interval, start_step=start_step, cache_mode=mode,
                                            offload_to_cpu=False).result[0]


def auto(model, speed_factor: float, mode: str = "default"):
    return AfterburnerAutoCache.execute(model, speed_factor=speed_factor, cache_mode=mode,
                                        offload_to_cpu=False).result[0]


def first_block(model, threshold: float, mode: str = "default"):
    return AfterburnerFirstBlockCache.execute(model, residual_diff_threshold=threshold, start=0.0, end=1.0,
                                              max_consecutive_cache_hits=-1, cache_mode=mode,
                                              offload_to_cpu=False).result[0]


def multi_block(model, threshold: float = 0.0, first_blocks: int = 1, last_blocks: int = 0, skip_double: str = "",
                skip_single: str = "", mode: str = "default"):
    return AfterburnerBlockCache.execute(model, first_blocks=first_blocks, last_blocks=last_blocks,
                                         residual_diff_threshold=threshold, start=0.0, end=1.0,
                                         max_consecutive_cache_hits=-1, skip_double_blocks=skip_double,
                                         skip_single_blocks=skip_single, cache_mode=mode,
                                         offload_to_cpu=False).result[0]


# Each node at the setting that must be stock ComfyUI bit for bit.
DISABLED: dict[str, Callable] = {
    "periodic_interval_1": lambda m: periodic(m, interval=1),
    "auto_speed_1": lambda m: auto(m, 1.0),
    "first_block_threshold_0": lambda m: first_block(m, 0.0),
    "multi_block_threshold_0": lambda m: multi_block(m, 0.0),
}


def run_ids() -> set[str]:
    bus = get_bus()
    bus.flush()
    return {record["run_id"] for record in bus.history.recent(50)}


def records_since(before: set[str]) -> list[dict]:
    """Run records started since `before` was taken, oldest first."""
    bus = get_bus()
    bus.flush()
    return [record for record in reversed(bus.history.recent(50)) if record["run_id"] not in before]


def sample_recorded(model, family: str, **kwargs: Any) -> tuple[torch.Tensor, dict]:
    """Sample and return the output with the one run record the engine made for it."""
    before = run_ids()
    out = sample(model, family, **kwargs)
    records = records_since(before)
    assert len(records) == 1, f"expected one cache run record, got {len(records)}"
    return out, records[0]


def actions_by_step(record: dict) -> dict[int, set[str]]:
    """Step index -> the set of actions its step events carry (one set member: all-or-none held)."""
    actions: dict[int, set[str]] = {}
    for event in record["steps"]:
        actions.setdefault(event["step"], set()).add(event["action"])
    return actions


def model_wrapper_kind(model) -> str:
    """The wrapper type the engine puts its model-call hook on for this model's family."""
    adapter = adapter_for(model.get_model_object("diffusion_model"))
    return WrappersMP.DIFFUSION_MODEL if adapter.model_wrapper == "diffusion_model" else WrappersMP.APPLY_MODEL


@dataclass
class Call:
    uuids: list
    branches: list[int]
    sigma: float
    out: torch.Tensor


class Spy:
    """A model-call wrapper that records, per call, the cond uuids, branches, sigma and the output it saw.

    Registered before a cache node it runs outside the engine's wrapper (sees what the engine returns);
    registered after it runs inside (sees only the calls where the model really ran).
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __call__(self, executor, *args: Any, **kwargs: Any) -> Any:
        out = executor(*args, **kwargs)
        options = kwargs.get("transformer_options")
        if not isinstance(options, dict):
            options = next(a for a in reversed(args) if isinstance(a, dict) and "uuids" in a)
        self.calls.append(Call(list(options["uuids"]), list(options["cond_or_uncond"]),
                               float(options["sigmas"].reshape(-1)[0]), out.detach().clone()))
        return out

    def attach(self, model, key: str):
        spied = model.clone()
        spied.add_wrapper_with_key(model_wrapper_kind(model), key, self)
        return spied


def options_snapshot(model) -> Any:
    """Everything a node could change on a ModelPatcher, as nested plain data with object identities."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(item) for item in value]
        if isinstance(value, (str, int, float, bool, type(None))):
            return value
        return ("id", id(value))

    return walk({"model_options": model.model_options, "wrappers": model.wrappers, "callbacks": model.callbacks,
                 "patches": model.patches, "object_patches": model.object_patches,
                 "patches_uuid": str(model.patches_uuid), "attachments": model.attachments,
                 "injections": model.injections})


def with_one_weight_patch(model, seed: int = 0):
    """A clone carrying a LoRA-style 'diff' patch (ComfyUI 0.3.75: `{key: (delta,)}`) on one weight matrix."""
    patches = model.get_key_patches("diffusion_model.")
    key = next(k for k in sorted(patches) if k.endswith(".weight") and patches[k][0][0].ndim == 2
               and patches[k][0][0].numel() >= 1024)
    weight = patches[key][0][0]
    delta = torch.randn(weight.shape, generator=torch.Generator().manual_seed(seed)) * weight.std()
    patched = model.clone()
    assert patched.add_patches({key: (delta,)}, 1.0) == [key]
    return patched


# ------------------------------------------------------------------------------------------------------------
# compile: artifacts kept apart, the SDPA override, the compile node, compile events
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def compile_isolation(tmp_path_factory):
    """Compiled artifacts go to a temporary folder, not the real models folder. A module that compiles
    imports this fixture so that it runs for it."""
    saved = folder_paths.folder_names_and_paths.get(FOLDER_NAME)
    folder_paths.folder_names_and_paths[FOLDER_NAME] = ([str(tmp_path_factory.mktemp("compile_artifacts"))], set())
    persist.forget_loaded()
    yield
    if saved is None:
        folder_paths.folder_names_and_paths.pop(FOLDER_NAME, None)
    else:
        folder_paths.folder_names_and_paths[FOLDER_NAME] = saved


def sdpa_override(func, *args: Any, **kwargs: Any) -> torch.Tensor:
    return attention_pytorch(*args, **kwargs)


def build(family: str, seed: int = 0, variant: tuple[str, dict[str, Any]] | None = None):
    """The tiny model with ComfyUI's PyTorch attention (the override travels with every clone), built under
    inference mode as ComfyUI's executor loads models (its weights are inference tensors, as a LoRA's are).
    variant: another (`comfy.supported_models` class, unet config) of the family's diffusion-model class."""
    with torch.inference_mode():
        model = (tiny_models.build_model(family, seed=seed) if variant is None
                 else tiny_models.build_from_config(*variant, seed=seed))
    model.model_options["transformer_options"]["optimized_attention_override"] = sdpa_override
    return model


def compiled(model, *, backend: str = "inductor", mode: str = "default", dynamic: str = "auto",
             fullgraph: bool = False, scope: str = "per block", save: bool = True):
    return AfterburnerCompile.execute(model, backend=backend, mode=mode, dynamic=dynamic, fullgraph=fullgraph,
                                      scope=scope, save_compiled=save).result[0]


def sample_short(model, family: str, *, steps: int = SHORT_STEPS, cfg: float = 1.0, seed: int = 1, batch: int = 1,
           size: int = 64, tokens: int = 8, **kwargs: Any) -> torch.Tensor:
    latent = tiny_models.empty_latent(family, batch, size, size, frames=5 if family in VIDEO_FAMILIES else 1)
    noise = comfy.sample.prepare_noise(latent, seed)
    positive = tiny_models.conditioning(family, seed=1, tokens=tokens)
    negative = tiny_models.conditioning(family, seed=2, tokens=tokens)
    with torch.inference_mode():
        return comfy.sample.sample(model, noise, steps, cfg, "euler", "simple", positive, negative, latent,
                                   seed=seed, disable_pbar=True, **kwargs)


class Events:
    """Compile events and notices emitted since construction (from the process-wide bus's bounded history)."""

    def __init__(self) -> None:
        bus = get_bus()
        bus.flush()
        self._last_compile = bus.history.compiles[-1] if bus.history.compiles else None
        self._last_notice = bus.history.notices[-1] if bus.history.notices else None

    @staticmethod
    def _after(items, last) -> list[dict]:
        items = list(items)
        for index in range(len(items) - 1, -1, -1):  # payloads are distinct dicts: find ours by identity
            if items[index] is last:
                return items[index + 1:]
        return items

    @property
    def compiles(self) -> list[dict]:
        bus = get_bus()
        bus.flush()
        return self._after(bus.history.compiles, self._last_compile)

    @property
    def notices(self) -> list[dict]:
        bus = get_bus()
        bus.flush()
        return self._after(bus.history.notices, self._last_notice)


def module_snapshot(model) -> dict[str, Any]:
    """The diffusion model's submodule objects and parameter objects, by name."""
    dm = model.get_model_object("diffusion_model")
    return {"modules": {name: id(m) for name, m in dm.named_modules()},
            "params": {name: (id(p), p.requires_grad) for name, p in dm.named_parameters()}}


def with_block_weight_patches(model, seed: int = 0):
    """A clone carrying a LoRA-style 'diff' patch (ComfyUI 0.3.75: `{key: (delta,)}`) on every block's
    attention projection (a real LoRA patches every block)."""
    patches = model.get_key_patches("diffusion_model.")
    keys = [k for k in sorted(patches) if k.endswith(("img_attn.proj.weight", "linear2.weight", "self_attn.o.weight"))]
    assert keys
    gen = torch.Generator().manual_seed(seed)
    patched = model.clone()
    with torch.inference_mode():  # as a LoRA loader node runs
        for key in keys:
            weight = patches[key][0][0]
            delta = torch.randn(weight.shape, generator=gen) * weight.std()
            assert patched.add_patches({key: (delta,)}, 1.0) == [key]
    return patched


def first_block_at_one(model):
    """First Block Cache at threshold 1: every step the guard rails allow is reused."""
    return first_block(model, 1.0)


def sample_decisions(model, family: str, cfg: float) -> tuple[torch.Tensor, list[tuple[int, str, str]]]:
    """Output and the run's decisions, (step, branch, action) per step event, of one short cached run."""
    before = run_ids()
    out = sample_short(model, family, steps=STEPS, cfg=cfg)
    runs = records_since(before)
    assert len(runs) == 1 and runs[0]["status"] == "ok"
    return out, [(s["step"], s["branch"], s["action"]) for s in runs[0]["steps"]]
