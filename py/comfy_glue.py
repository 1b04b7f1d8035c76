"""The one place that reads ComfyUI's internals: wrapper arguments, `transformer_options`, the keys other
nodes leave in model options, patch kinds, interrupts and cloning.

Capabilities ask this module instead of ComfyUI's objects, so a ComfyUI release that moves one of these
changes one function here. Both ComfyUI 0.3.75 and newer releases (v0.33+: DynamicVRAM's
`clone(disable_dynamic=...)`, extra keyword arguments to sampling functions, a shallow copy of
`transformer_options` before the diffusion model runs) are served; `docs/compatibility.md` records the runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

# ComfyUI's TorchCompileModel: its mark on model options and the key of its APPLY_MODEL wrapper.
try:
    from comfy_api.torch_helpers.torch_compile import TORCH_COMPILE_KWARGS as CORE_COMPILE_OPTIONS_KEY
except ImportError:  # the name it has in 0.3.75
    CORE_COMPILE_OPTIONS_KEY = "torch_compile_kwargs"
CORE_COMPILE_WRAPPER_KEY = "torch.compile"
ATTENTION_OVERRIDE_KEY = "optimized_attention_override"

# Keys only a `transformer_options` dict has (besides Afterburner's own, which all start with "afterburner").
_TRANSFORMER_OPTIONS_KEYS = ("uuids", "sigmas", "cond_or_uncond", "patches_replace", "wrappers", "patches")


def transformer_options(args: tuple, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The `transformer_options` of a model call: by keyword, else the last positional dict that is one.

    Model forwards take it either way, and block replacement hands it inside the block's argument dict.
    An empty dict (not shared with anything) when the call has none.
    """
    options = kwargs.get("transformer_options")
    if isinstance(options, dict):
        return options
    for arg in reversed(args):
        if isinstance(arg, dict) and (any(key in arg for key in _TRANSFORMER_OPTIONS_KEYS)
                                      or any(str(key).startswith("afterburner") for key in arg)):
            return arg
    return {}


class WrapperCall:
    """Named access to the arguments a keyed wrapper receives, whichever of them came by position.

    `names` is the wrapped function's parameter order (after `self`); arguments ComfyUI adds in a later
    release come by keyword and pass through untouched.
    """

    def __init__(self, names: tuple[str, ...], args: tuple, kwargs: dict[str, Any]) -> None:
        self.names = names
        self.args = args
        self.kwargs = kwargs

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        index = self.names.index(name)
        return self.args[index] if index < len(self.args) else default

    def __getitem__(self, name: str) -> Any:
        missing = object()
        value = self.get(name, missing)
        if value is missing:
            raise KeyError(f"ComfyUI called the wrapper without {name!r}")
        return value

    def replaced(self, name: str, value: Any) -> tuple[tuple, dict[str, Any]]:
        """The call's (args, kwargs) with `name` set to `value`."""
        index = self.names.index(name)
        if name in self.kwargs or index >= len(self.args):
            return self.args, {**self.kwargs, name: value}
        return (*self.args[:index], value, *self.args[index + 1:]), self.kwargs


# Parameter orders of the functions behind the wrapper kinds Afterburner takes (CFGGuider.outer_sample,
# KSAMPLER.sample, CFGGuider.predict_noise).
OUTER_SAMPLE_ARGS = ("noise", "latent_image", "sampler", "sigmas", "denoise_mask", "callback", "disable_pbar", "seed")
SAMPLER_SAMPLE_ARGS = ("model_wrap", "sigmas", "extra_args", "callback", "noise", "latent_image", "denoise_mask",
                       "disable_pbar")
PREDICT_NOISE_ARGS = ("x", "timestep", "model_options", "seed")


def is_interrupt(err: BaseException) -> bool:
    """Whether `err` is the user pressing Cancel (ComfyUI's interrupt), not a failure."""
    import comfy.model_management

    return isinstance(err, comfy.model_management.InterruptProcessingException)


def core_compile_applied(model_options: Mapping[str, Any]) -> bool:
    """Whether ComfyUI's TorchCompileModel compiles this model."""
    return CORE_COMPILE_OPTIONS_KEY in model_options


def dit_replacements(options: Mapping[str, Any]) -> Mapping[Any, Any]:
    """The block replacements (`patches_replace["dit"]`) another node, or a cache, set on this call."""
    return (options.get("patches_replace") or {}).get("dit") or {}


def attention_override(options: Mapping[str, Any]) -> Callable | None:
    """The attention override ComfyUI calls around every attention function, if a node set one."""
    return options.get(ATTENTION_OVERRIDE_KEY)


def low_vram_patched(module: torch.nn.Module) -> bool:
    """Whether ComfyUI's low-VRAM mode patches some of this module's weights per op (a LoRA on an offloaded
    layer: a `LowVramPatch` keyed by the weight's name). Other weight functions (weight wrappers, as a
    quantization would add) do not count."""
    from comfy.model_patcher import LowVramPatch

    return any(isinstance(fn, LowVramPatch)
               for m in module.modules()
               for fn in (*(getattr(m, "weight_function", None) or ()), *(getattr(m, "bias_function", None) or ())))


def clone_patcher(model: Any, *, static_weights: bool = False) -> Any:
    """A clone of a ModelPatcher. `static_weights`: a clone whose weights stay in place while it samples, as
    compiled code needs (newer ComfyUI's DynamicVRAM streams weights unless the clone disables it, as core's
    own compile node does)."""
    if static_weights and "disable_dynamic" in inspect.signature(model.clone).parameters:
        return model.clone(disable_dynamic=True)
    return model.clone()


def model_options_clone(options: dict[str, Any]) -> dict[str, Any]:
    """A copy of model options as ComfyUI makes one: nested dicts and lists copied, values shared."""
    import comfy.model_patcher

    return comfy.model_patcher.create_model_options_clone(options)
