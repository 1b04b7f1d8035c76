"""The cache methods the benchmarks compare, applied the way a workflow applies them, and how compute is counted.

A method is a node applied to a model: Afterburner's cache nodes, or ComfyUI's own EasyCache and LazyCache
as shipped (optionally handed a copy of their input, see `comfy_cache`). Compute is counted the same way
for every method, as transformer-block evaluations observed by forward hooks on the blocks: a first-block
cache pays for its first block, and a whole-model skip saves all of them.

ComfyUI must be importable (booted) before this module is imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from comfy.patcher_extension import WrappersMP

from afterburner.py.arch import adapter_for

Patch = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class Method:
    name: str  # "afterburner:<preset>" or "comfy:<node>"
    params: dict[str, Any]
    patch: Patch


def ours(node: type, preset: str, **params: Any) -> Method:
    """An Afterburner cache node with `params` (its cached tensors stay on the model's device)."""
    def patch(model):
        return node.execute(model, offload_to_cpu=False, **params).result[0]

    return Method(f"afterburner:{preset}", params, patch)


def comfy_cache(node: type, name: str, threshold: float, copy_input: bool = False) -> Method:
    """ComfyUI's EasyCache or LazyCache node. As shipped, EasyCache adds its cached difference into the tensor
    it was handed, which is the sampler's own `x` in fp32 (PEERS.md); `copy_input` hands it a copy, to measure
    its best case rather than its bug."""
    def patch(model):
        if copy_input:
            model = model.clone()
            # Registered first, so it runs outside EasyCache's wrapper and hands it a copy.
            model.add_wrapper_with_key(WrappersMP.DIFFUSION_MODEL, "bench.copy_input",
                                       lambda executor, x, *a, **k: executor(x.clone(), *a, **k))
        return node.execute(model, reuse_threshold=threshold, start_percent=0.15, end_percent=0.95,
                            verbose=False).result[0]

    return Method(f"comfy:{name}", {"reuse_threshold": threshold, "start_percent": 0.15, "end_percent": 0.95},
                  patch)


class BlockCounter:
    """Counts block forwards with module hooks: the same compute measure for every method."""

    def __init__(self, model) -> None:
        diffusion_model = model.get_model_object("diffusion_model")
        self.count = 0
        self._handles = [block.register_forward_pre_hook(self._hit)
                         for stage in adapter_for(diffusion_model).stages
                         for block in getattr(diffusion_model, stage.attribute)]

    def _hit(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def label(row: dict[str, Any]) -> str:
    """A result row's method with its reuse mode, as tables and plots name it."""
    mode = row["params"].get("cache_mode")
    return f"{row['method']} ({mode})" if mode else row["method"]
