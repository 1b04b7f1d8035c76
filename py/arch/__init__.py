"""Model-family adapters: where a family's blocks are and how ComfyUI lets us reach them."""

from .adapters import ADAPTERS, Adapter, CompileFacts, Stage, adapter_for

__all__ = ["ADAPTERS", "Adapter", "CompileFacts", "Stage", "adapter_for"]
