"""Compiled code swapped into the model for one call, and the model's own put back after it.

LoRA-safety: nothing is compiled into the model. Compiled blocks wrap the model's own block modules
(torch.compile's OptimizedModule keeps the original as `_orig_mod`), and they sit in the block lists only
while a model call runs, so ComfyUI loads, patches and unpatches the real weights as usual and the compiled
code reads whatever weights are there. Compiled methods are instance attributes that shadow the class's for
the call and are deleted after it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import comfy.utils
import torch

from .layouts import LAYOUTS

_ABSENT = object()


class CompiledRegion(torch.nn.Module):
    """A compiled block standing in a block list during one call.

    `call(compiled, original, label, args, kwargs)` runs it: it reports the compiles and falls back to eager."""

    def __init__(self, compiled: Callable, original: torch.nn.Module, label: str, call: Callable[..., Any]) -> None:
        super().__init__()
        self.compiled = compiled
        object.__setattr__(self, "_original", original)  # not a submodule: the compiled one already holds it
        object.__setattr__(self, "_call", call)
        object.__setattr__(self, "_label", label)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = LAYOUTS.canonical(type(self._original), args, kwargs)
        return self._call(self.compiled, self._original, self._label, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        """Model code that reads a block's attributes (not only calls it) sees the original block's."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_original"), name)


class Swaps:
    """Swaps reference-counted per owner, so a nested or concurrent call (newer ComfyUI may run CFG chunks in
    threads) never undoes one under another. `lock` is held while a swap is made or undone."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._depth: dict[int, int] = {}
        self._undo: dict[int, Callable[[], None]] = {}

    @contextlib.contextmanager
    def swapped(self, owner: Any, swap: Callable[[], Callable[[], None]]) -> Iterator[None]:
        """`swap` (which does it and returns its undo) in effect on `owner` while the block runs."""
        with self._lock:
            depth = self._depth.get(id(owner), 0)
            if depth == 0:
                self._undo[id(owner)] = swap()
            self._depth[id(owner)] = depth + 1
        try:
            yield
        finally:
            with self._lock:
                self._depth[id(owner)] -= 1
                if self._depth[id(owner)] == 0:
                    del self._depth[id(owner)]
                    self._undo.pop(id(owner))()


def set_modules(owner: Any, paths: Iterable[tuple[str, str]],
                replacement: Callable[[torch.nn.Module, str], torch.nn.Module | None]) -> Callable[[], None]:
    """Each module at a (path, label) of `paths` below `owner` replaced by `replacement(module, label)`, or kept
    where that is None. Returns the undo; a failure half-way undoes what was done."""
    originals: list[tuple[str, Any]] = []

    def undo() -> None:
        for path, module in reversed(originals):
            comfy.utils.set_attr(owner, path, module)

    try:
        for path, label in paths:
            module = comfy.utils.get_attr(owner, path)
            new = replacement(module, label)
            if new is None:
                continue
            originals.append((path, module))
            comfy.utils.set_attr(owner, path, new)
    except BaseException:
        undo()
        raise
    return undo


def set_methods(owner: torch.nn.Module, wraps: Iterable[tuple[str, Callable[[Callable], Callable]]],
                ) -> Callable[[], None]:
    """Instance attributes that shadow the class's methods: `owner.<name>` becomes `wrap(owner.<name>)` for each
    (name, wrap). Whatever `owner.<name>` is now (another pack's object patch included) is what gets wrapped
    and put back. Returns the undo."""
    wraps = list(wraps)
    previous = {name: vars(owner).get(name, _ABSENT) for name, _ in wraps}
    for name, wrap in wraps:
        object.__setattr__(owner, name, wrap(getattr(owner, name)))

    def undo() -> None:
        for name, value in previous.items():
            if value is _ABSENT:
                object.__delattr__(owner, name)
            else:
                object.__setattr__(owner, name, value)

    return undo
