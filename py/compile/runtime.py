"""The compiled model at sampling time: its keyed wrappers, and the compiled code they swap in for one call.

Each wrapper asks `strategy` how the call runs and swaps compiled code in (`swapping`) only while it does.
Compiled code is made once per module or function and shared by every clone of the patched model; a region's
call marks its input sizes dynamic (`shapes`), passes its inputs in one layout (`layouts`), reports what it
compiled (`observe`) and runs eager for good once its compile fails (`failures`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

import torch
from comfy.patcher_extension import WrapperExecutor

from .. import comfy_glue
from . import persist
from .artifacts import ArtifactStore
from .config import CompileConfig
from .failures import fix_for, is_compile_failure, layout_mismatch
from .layouts import LAYOUTS
from .observe import CompileObserver
from .regions import Plan
from .shapes import STAGED, mark_schedule_dynamic, mark_sizes_dynamic
from .strategy import Kind, Strategy, choose_strategy
from .swapping import CompiledRegion, Swaps, set_methods, set_modules

log = logging.getLogger("afterburner")
WRAPPER_KEY = "afterburner.compile"


class CompiledModel:
    """Compiled regions of one node application, shared by every clone of the patched model."""

    def __init__(self, config: CompileConfig, plan: Plan, store: ArtifactStore | None, key: str | None) -> None:
        self.config = config
        self.plan = plan
        self.facts = plan.adapter.compile
        self.observer = CompileObserver(plan.model_label)
        self.store = store
        self.key = key
        self.failed: dict[str, str] = {}
        self._regions: dict[int, tuple[torch.nn.Module, CompiledRegion]] = {}
        self._methods: dict[tuple[str, int, int], tuple[Any, Callable, Callable]] = {}
        self._noted: set[str] = set()
        self._whole: set[str] = set()  # labels of whole-model regions
        self._ran: set[str] = set()
        self._lock = threading.RLock()
        self._swaps = Swaps(self._lock)

    # --- compiled callables, made once per module --------------------------------------------------------

    def _compile(self, target: Callable) -> Callable:
        return torch.compile(target, **self.config.torch_compile_kwargs())

    def _region_locked(self, module: torch.nn.Module, label: str) -> torch.nn.Module:
        if isinstance(module, CompiledRegion):
            return module
        entry = self._regions.get(id(module))
        if entry is None or entry[0] is not module:
            LAYOUTS.require_contiguous(type(module), module.forward, self.facts.contiguous_inputs)
            entry = (module, CompiledRegion(self._compile(module), module, label, self.call))
            self._regions[id(module)] = entry
        return entry[1]

    def region_for(self, module: torch.nn.Module, label: str) -> torch.nn.Module:
        with self._lock:
            return self._region_locked(module, label)

    def _method(self, original: Callable, kind: str, make: Callable[[Callable, Any, Callable], Callable]) -> Callable:
        """`make(original, owner, function)`, made once per (owner, function): compiled code is reused, and
        dynamo guards a method a compiled caller reads by its identity. A bound method is taken apart into its
        function and owner; any other callable is its own owner."""
        owner, function = getattr(original, "__self__", None), getattr(original, "__func__", None)
        if owner is None or function is None:
            owner, function = original, original
        with self._lock:
            key = (kind, id(owner), id(function))
            entry = self._methods.get(key)
            if entry is None or entry[0] is not owner or entry[1] is not function:
                entry = (owner, function, make(original, owner, function))
                self._methods[key] = entry
            return entry[2]

    def compiled_method(self, original: Callable) -> Callable:
        """`original` (a bound method, or any callable) compiled, called with the same arguments. A bound method
        is compiled as its function with the owner passed in, so one compiled code serves every instance."""
        return self._method(original, "compiled", self._make_compiled)

    def _make_compiled(self, original: Callable, owner: Any, function: Callable) -> Callable:
        compiled = self._compile(function)
        label = f"diffusion_model {type(owner).__name__}"
        self._whole.add(label)
        bound = owner is not function

        def run(*args: Any, **kwargs: Any) -> Any:
            mark_schedule_dynamic(args, kwargs)
            args, kwargs = LAYOUTS.canonical(function, args, kwargs)
            full = (owner, *args) if bound else args
            return self.call(compiled, original, label, full, kwargs, bound=bound, entry=(function.__name__,))

        return run

    def uncompiled_method(self, original: Callable) -> Callable:
        """`original` run eagerly when compiled code calls it (a graph break around it)."""
        return self._method(original, "uncompiled", lambda original, owner, function: torch._dynamo.disable(original))

    # --- one region call --------------------------------------------------------------------------------

    def call(self, compiled: Callable, eager: Callable, label: str, args: tuple, kwargs: dict[str, Any],
             bound: bool = False, entry: tuple[str, ...] = ("forward",)) -> Any:
        if label in self.failed:
            return eager(*(args[1:] if bound else args), **kwargs)
        mark = self.observer.mark()
        staged = STAGED.inputs
        # A whole-model graph is marked only once it has run: its first compile stays static, as marking makes one
        # big compile much slower (H100, Flux: 188 s vs 77 s), and its first recompile (a new resolution, prompt
        # length or batch) is general in every size, batch 1 too where `CompileFacts.whole_broadcast_inputs` allows.
        whole = label in self._whole
        if self.config.dynamic == "auto" and (not whole or label in self._ran):
            inputs = (getattr(eager, "forward", eager), args[1:] if bound else args, kwargs,
                      self.facts.whole_broadcast_inputs if whole else self.facts.broadcast_inputs)
            if mark.hooked:
                STAGED.inputs = inputs
            else:  # no compile-start hook in this torch: mark on every call
                mark_sizes_dynamic(*inputs)
        try:
            out = compiled(*args, **kwargs)
            self._ran.add(label)
            return out
        except Exception as err:
            if not (is_compile_failure(err) or layout_mismatch(err)):
                raise
            fix = fix_for(err, self.config)
            self.failed[label] = fix
            self.observer.notice("error", f"{self.plan.model_label} {label}: compile failed, running it uncompiled: "
                                          f"{fix}")
            log.warning("Afterburner compile: %s failed (%s); running eager", label, err)
            return eager(*(args[1:] if bound else args), **kwargs)
        finally:
            STAGED.inputs = staged
            self.observer.report(mark, label, entry)

    # --- swapping ------------------------------------------------------------------------------------------

    def _set_regions(self, owner: Any, paths: list[tuple[str, str]], low_vram: bool = False) -> Callable[[], None]:
        """Compiled regions at `paths`. Under ComfyUI's low-VRAM mode, a block whose weights it patches per op
        (a LoRA on an offloaded layer) keeps its original (runs uncompiled) and the run says so: compiled, such
        a block guards on the weight's name the patch is keyed by, so the blocks of one class would each compile
        their own code until torch's recompile limit."""
        per_op = 0

        def region(module: torch.nn.Module, label: str) -> torch.nn.Module | None:
            nonlocal per_op
            if low_vram and comfy_glue.low_vram_patched(module):
                per_op += 1
                return None
            return self._region_locked(module, label)

        undo = set_modules(owner, paths, region)
        if per_op:
            self.note_once("low_vram", f"{self.plan.model_label}: ComfyUI's low-VRAM mode patches the weights of "
                                       f"{per_op} of {len(paths)} blocks per op (a LoRA on offloaded layers); they "
                                       "run uncompiled, as each would compile its own code. The other blocks run "
                                       "compiled; with more free VRAM all of them would")
        return undo

    def blocks_swapped(self, diffusion_model: torch.nn.Module,
                       low_vram: bool = True) -> contextlib.AbstractContextManager:
        """`low_vram`: whether ComfyUI may have offloaded part of the model (False skips looking at every layer)."""
        paths = [(region.path, region.label) for region in self.plan.blocks]
        return self._swaps.swapped(diffusion_model, lambda: self._set_regions(diffusion_model, paths, low_vram))

    def module_swapped(self, base_model: Any, path: str, label: str) -> contextlib.AbstractContextManager:
        self._whole.add(label)
        return self._swaps.swapped(base_model, lambda: self._set_regions(base_model, [(path, label)]))

    def methods_swapped(self, diffusion_model: torch.nn.Module, compiled: tuple[str, ...] = (),
                        uncompiled: tuple[str, ...] = ()) -> contextlib.AbstractContextManager:
        """The `compiled` methods by their compiled code, the `uncompiled` ones by themselves run eagerly."""
        if not compiled and not uncompiled:
            return contextlib.nullcontext()
        wraps = [*((name, self.compiled_method) for name in compiled),
                 *((name, self.uncompiled_method) for name in uncompiled)]
        return self._swaps.swapped(diffusion_model, lambda: set_methods(diffusion_model, wraps))

    def note_once(self, key: str, message: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            log.info("Afterburner compile: %s", message)
            self.observer.notice("info", message)

    def after_call(self) -> None:
        """Save artifacts after the first call that compiled something new."""
        if self.store is not None and self.key is not None and self.observer.take_save_request():
            persist.save(self.store, self.key, self.plan.model_label)

    # --- the keyed wrappers ---------------------------------------------------------------------------------

    def _strategy(self, wrapper_kind: Literal["apply_model", "diffusion_model"], args: tuple, kwargs: dict[str, Any],
                  executor_known: bool = True) -> Strategy:
        """How this call runs (`choose_strategy`); its note, if any, said once."""
        strategy = choose_strategy(
            scope=self.plan.scope, wrapper_kind=wrapper_kind, has_blocks=bool(self.plan.blocks),
            blocks_replaced=bool(comfy_glue.dit_replacements(comfy_glue.transformer_options(args, kwargs))),
            inner_forward=self.facts.inner_forward, executor_known=executor_known)
        if strategy.note is not None:
            self.note_once(strategy.note.key, f"{self.plan.model_label}: {strategy.note.text}")
        return strategy

    def apply_model_wrapper(self, executor: Any, *args: Any, **kwargs: Any) -> Any:
        """APPLY_MODEL: per-block scope, and whole scope for families without DIFFUSION_MODEL wrappers."""
        base_model = executor.class_obj
        diffusion_model = base_model.diffusion_model
        try:
            if self._strategy("apply_model", args, kwargs).kind is Kind.MODULE:
                mark_schedule_dynamic(args, kwargs)  # _apply_model hands these transformer_options on
                with (self.methods_swapped(diffusion_model, uncompiled=self.facts.uncompiled_methods),
                      self.module_swapped(base_model, "diffusion_model", f"diffusion_model {self.plan.model_label}")):
                    return executor(*args, **kwargs)
            with self.blocks_swapped(diffusion_model, low_vram=bool(getattr(base_model, "model_lowvram", True))):
                return executor(*args, **kwargs)
        finally:
            self.after_call()

    def diffusion_model_wrapper(self, executor: Any, *args: Any, **kwargs: Any) -> Any:
        """DIFFUSION_MODEL: whole scope. The family's inner forward (Flux's `forward_orig`) is compiled where
        there is one, else the innermost function of the chain (the family's `_forward`), with the family's
        `uncompiled_methods` run eagerly inside it."""
        diffusion_model = executor.class_obj
        try:
            # ComfyUI's WrapperExecutor as Afterburner knows it: a compiled innermost function chains in by these
            known = all(hasattr(executor, name) for name in ("original", "wrappers", "idx"))
            kind = self._strategy("diffusion_model", args, kwargs, executor_known=known).kind
            uncompiled = self.facts.uncompiled_methods
            if kind is Kind.BLOCKS:
                with self.blocks_swapped(diffusion_model):
                    return executor(*args, **kwargs)
            if kind is Kind.INNER_FORWARD:
                with self.methods_swapped(diffusion_model, (self.facts.inner_forward,), uncompiled):
                    return executor(*args, **kwargs)
            if kind is Kind.INNERMOST:
                inner = WrapperExecutor.new_class_executor(self.compiled_method(executor.original), diffusion_model,
                                                           executor.wrappers, executor.idx + 1)
                with self.methods_swapped(diffusion_model, uncompiled=uncompiled):
                    return inner.execute(*args, **kwargs)
            return executor(*args, **kwargs)
        finally:
            self.after_call()
