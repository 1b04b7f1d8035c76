"""Which parts of a model are compiled: the family's blocks, or the whole diffusion model.

Blocks are found through the family adapter (`py/arch`), never by testing the model's class here. A family
without block lists (UNets, anything unknown) is compiled whole, and the plan says so.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from ..arch import Adapter, adapter_for
from .config import CompileConfig


@dataclasses.dataclass(frozen=True)
class BlockRegion:
    """One block: its attribute path below the diffusion model, and a label for events."""

    path: str  # e.g. "double_blocks.3"
    label: str  # e.g. "double_blocks[3] DoubleStreamBlock"


@dataclasses.dataclass(frozen=True)
class Plan:
    """adapter: the family's adapter (`py/arch`). It says where a whole-model compile enters (the family's
    DIFFUSION_MODEL wrapper chain or APPLY_MODEL, and in `adapter.compile` the method inside that chain), which
    inputs keep batch 1 or get plain strides, and which methods a whole-model compile leaves uncompiled.
    model_label: the diffusion model's class name. scope: what is compiled. blocks: the family's blocks (also
    used by a whole-model compile while another node replaces blocks). notes: what the user is told about the plan."""

    adapter: Adapter
    model_label: str
    scope: Literal["block", "whole"]
    blocks: tuple[BlockRegion, ...]
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.scope == "whole":
            return f"{self.adapter.family}: whole model ({self.model_label})"
        classes: dict[str, int] = {}
        for region in self.blocks:
            name = region.label.split(" ", 1)[1]
            classes[name] = classes.get(name, 0) + 1
        kinds = ", ".join(f"{count} x {name}" for name, count in classes.items())
        return f"{self.adapter.family}: per block ({kinds}; one compiled code per block class)"


def plan_for(diffusion_model: torch.nn.Module, config: CompileConfig) -> Plan:
    adapter = adapter_for(diffusion_model)
    label = type(diffusion_model).__name__
    blocks = []
    for attribute in adapter.compile.block_lists_to_compile(adapter.stages):
        for index, module in enumerate(getattr(diffusion_model, attribute, None) or ()):
            blocks.append(BlockRegion(f"{attribute}.{index}", f"{attribute}[{index}] {type(module).__name__}"))
    notes: list[str] = []
    scope: Literal["block", "whole"] = "whole" if config.whole_model else "block"
    if scope == "block" and not blocks:
        scope = "whole"
        notes.append(f"{adapter.family} ({label}) has no repeated blocks Afterburner knows: compiling the whole model "
                     "instead of per block")
    return Plan(adapter, label, scope, tuple(blocks), tuple(notes))
