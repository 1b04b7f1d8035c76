"""Which sizes of a compiled region's inputs are dynamic (dynamic "auto"), and the inputs found by name.

A block's first compile is already general in batch, token count and resolution: the sizes of its tensor
inputs are marked dynamic before dynamo traces it. A whole-model graph's first compile stays static (marking
makes one big compile much slower); its inputs are marked from its first recompile on.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..comfy_glue import transformer_options
from . import observe

BATCH_SHAPE_ID = "afterburner.batch"
# ComfyUI's attention compares the batch with its SDP batch limit (2**15 on some GPUs): an unbounded batch size
# cannot take that branch in a graph and breaks it.
MAX_BATCH = 2**15
# Inductor sizes kernels by a size's hint, and max-autotune its benchmark inputs: an unbacked size's default hint
# (8192) would benchmark a batch of 8192. A constant (CFG's two branches) keeps the cache key of compiled code the
# same whichever batch came first.
BATCH_HINT = 2
# torch >= 2.9 takes bounds, a hint and a shared symbol for an unbacked size; older ones compile batch 1 apart
_UNBACKED_BATCH = {"min", "max", "hint_override", "shape_id"} <= set(
    inspect.signature(torch._dynamo.decorators.mark_unbacked).parameters)


def mark_schedule_dynamic(args: tuple, kwargs: dict[str, Any]) -> None:
    """The sampling schedule (`transformer_options["sample_sigmas"]`, one entry per step) reaches a whole-model
    compile; its length is not a reason to recompile when the step count changes."""
    schedule = transformer_options(args, kwargs).get("sample_sigmas")
    if isinstance(schedule, torch.Tensor) and schedule.ndim > 0:
        torch._dynamo.maybe_mark_dynamic(schedule, 0)


def named_inputs(function: Callable, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's inputs by parameter name (by position where the signature does not bind them)."""
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {**{str(index): arg for index, arg in enumerate(args)}, **kwargs}
    named = dict(bound.arguments)
    for name, parameter in bound.signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in named:
            named.update(named.pop(name))
    return named


def tensors_in(value: Any, depth: int = 3) -> Iterator[torch.Tensor]:
    """The tensors of an input: itself, or inside tuples, lists and dataclasses (Chroma's modulations)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif depth and isinstance(value, (tuple, list)):
        for item in value:
            yield from tensors_in(item, depth - 1)
    elif depth and dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from tensors_in(getattr(value, field.name), depth - 1)


def mark_sizes_dynamic(function: Callable, args: tuple, kwargs: dict[str, Any],
                       broadcast: tuple[str, ...] | None) -> None:
    """The sizes of a region's tensor inputs (also those in tuples, lists and dataclasses) marked dynamic, weakly
    (`maybe_mark_dynamic`): a size the code ties to the weights (channels, heads) or branches on is specialised
    again, silently.

    Torch specialises size 1, so batch 1 would compile apart from larger batches. Given the family's
    `broadcast` inputs (`CompileFacts.broadcast_inputs`), dim 0 of every other input of the batch's size is one
    unbacked size shared by all of them (never specialised, checked at run time): one compiled code for every
    batch. Sizes of 2 or less past dim 0 then stay static: they are rope's rotation pairs and the like, and with
    an unbacked batch inductor (torch 2.13) leaves such a size, once a reshape pins it, in a runtime assert
    without binding it. Without `broadcast` (or on torch < 2.9), batch 1 and larger batches are two entries.
    """
    tensors = [(name, tensor) for name, value in named_inputs(function, args, kwargs).items()
               for tensor in tensors_in(value) if tensor.ndim]
    if not tensors:
        return
    unbacked = _UNBACKED_BATCH and broadcast is not None
    batch = tensors[0][1].shape[0]
    for name, tensor in tensors:
        batch_major = unbacked and name not in broadcast and tensor.shape[0] == batch
        if batch_major:
            torch._dynamo.decorators.mark_unbacked(tensor, 0, min=1, max=MAX_BATCH, hint_override=BATCH_HINT,
                                                   shape_id=BATCH_SHAPE_ID)
        dims = [d for d in range(tensor.ndim)
                if (d == 0 and not batch_major) or (d > 0 and not (unbacked and tensor.shape[d] <= 2))]
        if dims:
            torch._dynamo.maybe_mark_dynamic(tensor, dims)


class StagedInputs(threading.local):
    """The inputs of the region call under way in this thread, marked dynamic only when dynamo starts compiling
    (its start callback runs before tracing): marking costs ~30 us a tensor, too much for every block call."""

    inputs: tuple[Callable, tuple, dict[str, Any], tuple[str, ...] | None] | None = None  # mark_sizes_dynamic's

    def mark(self) -> None:
        if self.inputs is not None:
            mark_sizes_dynamic(*self.inputs)


STAGED = StagedInputs()
observe.on_compile_start(STAGED.mark)
