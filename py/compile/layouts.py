"""Input layouts (strides) that compiled code is called with, kept from multiplying compiled entries.

Blocks of one class share compiled code, and dynamo guards on strides. Wan's first block gets its input
non-contiguous (patch embedding, transposed) and the others contiguous, so every new size or weight layout
would compile twice and reach torch's recompile limit twice as fast; Flux's position ids are a broadcast
(stride 0) at batch 2 and contiguous at batch 1.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch


class Layouts:
    """Once a compiled code (a block class, a whole-model function) has seen both layouts for an argument,
    that argument is passed contiguous from then on.

    Families that always pass one layout (HunyuanVideo's and SD3's non-contiguous streams) are left exactly as
    they are, so a block that updates its input in place (Flux's `img +=`) still does so on the caller's
    tensor. Inputs a family's adapter names (`CompileFacts.contiguous_inputs`, Lumina2's rope table) get plain
    strides from the first call, so not even the first call compiles a second layout. Process-wide, like
    dynamo's cache of compiled code.
    """

    def __init__(self) -> None:
        self._first: dict[tuple[Any, Any], bool] = {}
        self._contiguous: set[tuple[Any, Any]] = set()
        # Required slots get the standard strides even where a size is 1: with an unbacked batch, dynamo guards the
        # batch stride, which `is_contiguous` (and so `contiguous()`) ignores at batch 1.
        self._required: set[tuple[Any, Any]] = set()

    def require_contiguous(self, code: Any, function: Callable, names: tuple[str, ...]) -> None:
        """The inputs `names` of `function` (by name or position, `self` left out) passed contiguous to `code` from
        its first call (`CompileFacts.contiguous_inputs`)."""
        if not names:
            return
        parameters = list(inspect.signature(function).parameters)
        for name in names:
            self._required.add((code, name))
            if name in parameters:
                self._required.add((code, parameters.index(name)))

    def canonical(self, code: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """`code`: what shares the compiled code (a block class, a function)."""
        def visit(key: Any, value: Any) -> Any:
            if not isinstance(value, torch.Tensor):
                return value
            slot = (code, key)
            if slot in self._required:
                return value if value.stride() == _standard_strides(value.shape) else \
                    value.clone(memory_format=torch.contiguous_format)
            contiguous = value.is_contiguous()
            if self._first.setdefault(slot, contiguous) != contiguous:
                self._contiguous.add(slot)
            return value.contiguous() if not contiguous and slot in self._contiguous else value

        return (tuple(visit(i, a) for i, a in enumerate(args)),
                {name: visit(name, value) for name, value in kwargs.items()})


LAYOUTS = Layouts()


def _standard_strides(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))
