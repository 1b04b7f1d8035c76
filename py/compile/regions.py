"""Which parts of a model are compiled: the family's blocks, or the whole diffusion model.

Blocks are found through the family adapter (`py/arch`), never by testing the model's class here. A family
without block lists (UNets, anything unknown) is compiled whole, and the plan says so.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from ..arch import adapter_for
from .config import CompileConfig


@dataclasses.dataclass(frozen=True)
class BlockRegion:
    """One block: its attribute path below the diffusion model, and a label for events."""

    path: str  # e.g. "double_blocks.3"
    label: str  # e.g. "double_blocks[3] DoubleStreamBlock"


@dataclasses.dataclass(frozen=True)
class Plan:
    """scope: what is compiled. forward_hook: where a whole-model compile enters (the family's
    DIFFUSION_MODEL wrapper chain, or APPLY_MODEL for families without one). inner_forward: the method a
    whole-model compile compiles inside that chain, when the family has one (`Adapter.inner_forward`). blocks:
    the family's blocks (also used by a whole-model compile while another node replaces blocks).
    broadcast_inputs: `Adapter.broadcast_inputs` (None: batch 1 is compiled apart from larger batches).
    whole_broadcast_inputs: `Adapter.whole_broadcast_inputs`, the same for a whole-model graph.
    contiguous_inputs: `Adapter.contiguous_inputs`, block inputs always passed contiguous.
    uncompiled_methods: `Adapter.uncompiled_methods`, methods a whole-model compile leaves uncompiled."""

    family: str
    model_label: str
    scope: Literal["block", "whole"]
    forward_hook: Literal["diffusion_model", "apply_model"]
    inner_forward: str | None
    blocks: tuple[BlockRegion, ...]
    broadcast_inputs: tuple[str, ...] | None = None
    whole_broadcast_inputs: tuple[str, ...] | None = None
    contiguous_inputs: tuple[str, ...] = ()
    uncompiled_methods: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.scope == "whole":
            return f"{self.family}: whole model ({self.model_label})"
        classes: dict[str, int] = {}
        for region in self.blocks:
            name = region.label.split(" ", 1)[1]
            classes[name] = classes.get(name, 0) + 1
        kinds = ", ".join(f"{count} x {name}" for name, count in classes.items())
        return f"{self.family}: per block ({kinds}; one compiled code per block class)"


def plan_for(diffusion_model: torch.nn.Module, config: CompileConfig) -> Plan:
    adapter = adapter_for(diffusion_model)
    label = type(diffusion_model).__name__
    blocks = []
    for attribute in adapter.block_lists_to_compile():
        for index, module in enumerate(getattr(diffusion_model, attribute, None) or ()):
            blocks.append(BlockRegion(f"{attribute}.{index}", f"{attribute}[{index}] {type(module).__name__}"))
    notes: list[str] = []
    scope: Literal["block", "whole"] = "whole" if config.whole_model else "block"
    if scope == "block" and not blocks:
        scope = "whole"
        notes.append(f"{adapter.family} ({label}) has no repeated blocks Afterburner knows: compiling the whole model "
                     "instead of per block")
    return Plan(adapter.family, label, scope, adapter.model_wrapper, adapter.inner_forward,  # type: ignore[arg-type]
                tuple(blocks), adapter.broadcast_inputs, adapter.whole_broadcast_inputs, adapter.contiguous_inputs,
                adapter.uncompiled_methods, tuple(notes))
