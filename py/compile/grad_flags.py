"""While a compiled model samples, its weights do not require grad, so applying a LoRA is not a recompile.

Dynamo guards every parameter's `requires_grad`. The weights ComfyUI builds require grad; the weights it
patches in (a LoRA's, and every weight it puts back after unpatching one) are new Parameters that do not.
Left alone, the first LoRA after a compile recompiled every block class. Sampling never needs grad (ComfyUI
runs it under inference mode), so the flags go off when a sampling run of the compiled clone starts and back on
when it ends (ModelPatcher's pre-run and cleanup callbacks, which ComfyUI calls around every run, also a
failed one): between runs, and to every other clone of the same model, they are as they were.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch


class WeightsWithoutGrad:
    """The parameters whose `requires_grad` this object turned off, to turn back on later.

    Held by weak reference: ComfyUI may replace a parameter during a run (lowvram loading, a LoRA patch), and
    the one it replaced must not be kept alive here.
    """

    def __init__(self) -> None:
        self._turned_off: dict[int, weakref.ref[torch.nn.Parameter]] = {}

    def turn_off(self, patcher: Any) -> None:
        """ModelPatcher's ON_PRE_RUN callback."""
        for param in patcher.model.diffusion_model.parameters():
            if param.requires_grad:
                param.requires_grad_(False)
                self._turned_off[id(param)] = weakref.ref(param)

    def restore(self, patcher: Any) -> None:
        """ModelPatcher's ON_CLEANUP callback."""
        for ref in self._turned_off.values():
            if (param := ref()) is not None:
                param.requires_grad_(True)
        self._turned_off.clear()
