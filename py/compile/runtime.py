"""The compiled model at sampling time: keyed wrappers that swap compiled code in for one model call only.

LoRA-safety: nothing is compiled into the model. Compiled blocks wrap the model's own block modules
(torch.compile's OptimizedModule keeps the original as `_orig_mod`), and they sit in the block lists only
while an APPLY_MODEL call runs, so ComfyUI loads, patches and unpatches the real weights as usual and the
compiled code reads whatever weights are there. A whole-model compile replaces only code inside the family's
DIFFUSION_MODEL wrapper chain: the family's inner forward (Flux's `forward_orig`, behind the position ids,
which would fix the resolution), else the chain's innermost function (`_forward`, with the methods that make
position ids there run eagerly: `Adapter.uncompiled_methods`). Every DIFFUSION_MODEL
wrapper (the cache's skip decision, other packs) stays outside compiled code whatever order the nodes were
applied in.

Block replacements (`patches_replace["dit"]`, how the cache skips blocks) run outside compiled regions when
blocks are compiled: the family's forward calls the replacement, which calls the compiled block, or does not
call it on a skipped step. A whole-model compile would trace such replacements into the graph, so while a
call has them, a whole-model compile compiles per block for that call instead and says so once.

A region whose compile fails (no C++ compiler, a graph break under fullgraph) runs eager from then on and
the failure is reported with its fix. Compile failures happen before the region's code runs, so the eager
rerun sees the same inputs. So does a region whose compiled code meets an output layout that torch did not
predict (the net under a batch compiled for every size): the check fails at the first kernel that breaks it,
and functionalization leaves a block's in-place updates of its inputs (Flux's `img +=`) to the graph's end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import comfy.utils
import torch
from comfy.patcher_extension import WrapperExecutor

from . import observe, persist
from .artifacts import ArtifactStore
from .config import CompileConfig
from .observe import CompileObserver
from .regions import Plan

log = logging.getLogger("afterburner")
WRAPPER_KEY = "afterburner.compile"
_ABSENT = object()


def transformer_options_of(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    if isinstance(kwargs.get("transformer_options"), dict):
        return kwargs["transformer_options"]
    for arg in reversed(args):
        if isinstance(arg, dict) and any(k in arg for k in ("patches_replace", "wrappers", "uuids", "sigmas")):
            return arg
    return {}


def _layout_mismatch(err: BaseException) -> bool:
    """Compiled code checks that an extern kernel's output has the layout torch's shape inference predicted
    (inductor's `assert_size_stride`)."""
    return isinstance(err, AssertionError) and "expected size" in str(err) and "stride" in str(err)


def _is_compile_failure(err: BaseException) -> bool:
    exc = getattr(torch._dynamo, "exc", None)
    if exc is None or not isinstance(err, getattr(exc, "TorchDynamoException", ())):
        return False
    # fail_on_recompile (a test's or a user's stance) and the recompile limit are policy, not failures
    policy = tuple(getattr(exc, name) for name in ("RecompileError", "FailOnRecompileLimitHit") if hasattr(exc, name))
    return not isinstance(err, policy)


def _fix_for(err: BaseException, config: CompileConfig) -> str:
    text = f"{type(err).__name__}: {err}"
    if _layout_mismatch(err):
        return f"a kernel gave an output layout torch {torch.__version__} did not predict for a batch of any " \
               "size: set dynamic to on or off (batch 1 is then compiled apart from larger batches)"
    if config.fullgraph and "Unsupported" in type(err).__name__:
        return "it graph-breaks and fullgraph is on: turn fullgraph off (or start ComfyUI with " \
               "--use-pytorch-cross-attention if the break is in attention)"
    if "CppCompileError" in text or "C++ compiler" in text or "g++" in text:
        return "inductor could not run the C++ compiler: install g++ (or clang) or use a GPU with triton"
    return f"see the log ({text.splitlines()[0][:200]})"


class Layouts:
    """Keeps input layouts from multiplying compiled entries.

    Blocks of one class share compiled code, and dynamo guards on strides. Wan's first block gets its input
    non-contiguous (patch embedding, transposed) and the others contiguous, so every new size or weight layout
    would compile twice and reach torch's recompile limit twice as fast; Flux's position ids are a broadcast
    (stride 0) at batch 2 and contiguous at batch 1. Once a compiled code (a block class, a whole-model function)
    has seen both layouts for an argument, that argument is passed contiguous from then on. Families that always
    pass one layout (HunyuanVideo's and SD3's non-contiguous streams) are left exactly as they are, so a block
    that updates its input in place (Flux's `img +=`) still does so on the caller's tensor. Inputs a family's
    adapter names (`Adapter.contiguous_inputs`, Lumina2's rope table) get plain strides from the first call, so
    not even the first call compiles a second layout. Process-wide, like dynamo's cache of compiled code.
    """

    def __init__(self) -> None:
        self._first: dict[tuple[Any, Any], bool] = {}
        self._contiguous: set[tuple[Any, Any]] = set()
        # Required slots get the standard strides even where a size is 1: with an unbacked batch, dynamo guards the
        # batch stride, which `is_contiguous` (and so `contiguous()`) ignores at batch 1.
        self._required: set[tuple[Any, Any]] = set()

    def require_contiguous(self, code: Any, function: Callable, names: tuple[str, ...]) -> None:
        """The inputs `names` of `function` (by name or position, `self` left out) passed contiguous to `code` from
        its first call (`Adapter.contiguous_inputs`)."""
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


def mark_schedule_dynamic(args: tuple, kwargs: dict[str, Any]) -> None:
    """The sampling schedule (`transformer_options["sample_sigmas"]`, one entry per step) reaches a whole-model
    compile; its length is not a reason to recompile when the step count changes."""
    schedule = transformer_options_of(args, kwargs).get("sample_sigmas")
    if isinstance(schedule, torch.Tensor) and schedule.ndim > 0:
        torch._dynamo.maybe_mark_dynamic(schedule, 0)


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
    """dynamic "auto": a region's first compile is already general in batch, token count and resolution.

    Sizes of its tensor inputs (also those in tuples, lists and dataclasses) are marked dynamic, weakly
    (`maybe_mark_dynamic`): a size the code ties to the weights (channels, heads) or branches on is specialised
    again, silently.

    Torch specialises size 1, so batch 1 would compile apart from larger batches. Given the family's
    `broadcast` inputs (`Adapter.broadcast_inputs`), dim 0 of every other input of the batch's size is one
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


def patched_per_op(block: torch.nn.Module) -> bool:
    """Whether ComfyUI patches some of this block's weights per op: in low-VRAM mode a LoRA on an offloaded
    layer is a `LowVramPatch` keyed by the weight's name. Compiled, such a block guards on that name, so the
    blocks of one class would each compile their own code until torch's recompile limit."""
    return any(getattr(m, "weight_function", None) or getattr(m, "bias_function", None) for m in block.modules())


class _StagedInputs(threading.local):
    """The inputs of the region call under way in this thread, marked dynamic only when dynamo starts compiling
    (its start callback runs before tracing): marking costs ~30 us a tensor, too much for every block call."""

    inputs: tuple[Callable, tuple, dict[str, Any], tuple[str, ...] | None] | None = None

    def mark(self) -> None:
        if self.inputs is not None:
            mark_sizes_dynamic(*self.inputs)


_STAGED = _StagedInputs()
observe.on_compile_start(_STAGED.mark)


class _CompiledRegion(torch.nn.Module):
    """A compiled block standing in a block list during one call; reports its compiles, falls back to eager."""

    def __init__(self, compiled: Callable, original: torch.nn.Module, label: str, runtime: CompiledModel) -> None:
        super().__init__()
        self.compiled = compiled
        object.__setattr__(self, "_original", original)  # not a submodule: the compiled one already holds it
        object.__setattr__(self, "_runtime", runtime)
        object.__setattr__(self, "_label", label)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = LAYOUTS.canonical(type(self._original), args, kwargs)
        return self._runtime.call(self.compiled, self._original, self._label, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        """Model code that reads a block's attributes (not only calls it) sees the original block's."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_original"), name)


class CompiledModel:
    """Compiled regions of one node application, shared by every clone of the patched model."""

    def __init__(self, config: CompileConfig, plan: Plan, store: ArtifactStore | None, key: str | None) -> None:
        self.config = config
        self.plan = plan
        self.observer = CompileObserver(plan.model_label)
        self.store = store
        self.key = key
        self.failed: dict[str, str] = {}
        self._regions: dict[int, tuple[torch.nn.Module, _CompiledRegion]] = {}
        self._methods: dict[tuple[str, int, int], tuple[Any, Callable, Callable]] = {}
        self._noted: set[str] = set()
        self._whole: set[str] = set()  # labels of whole-model regions
        self._ran: set[str] = set()
        self._swap_depth: dict[int, int] = {}
        self._undo: dict[int, Callable[[], None]] = {}
        self._lock = threading.RLock()

    # --- compiled callables, made once per module --------------------------------------------------------

    def _compile(self, target: Callable) -> Callable:
        return torch.compile(target, **self.config.torch_compile_kwargs())

    def _region_locked(self, module: torch.nn.Module, label: str) -> torch.nn.Module:
        if isinstance(module, _CompiledRegion):
            return module
        entry = self._regions.get(id(module))
        if entry is None or entry[0] is not module:
            LAYOUTS.require_contiguous(type(module), module.forward, self.plan.adapter.contiguous_inputs)
            entry = (module, _CompiledRegion(self._compile(module), module, label, self))
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
        staged = _STAGED.inputs
        # A whole-model graph is marked only once it has run: its first compile stays static, as marking makes one
        # big compile much slower (H100, Flux: 188 s vs 77 s), and its first recompile (a new resolution, prompt
        # length or batch) is general in every size, batch 1 too where `Adapter.whole_broadcast_inputs` allows.
        whole = label in self._whole
        if self.config.dynamic == "auto" and (not whole or label in self._ran):
            inputs = (getattr(eager, "forward", eager), args[1:] if bound else args, kwargs,
                      self.plan.adapter.whole_broadcast_inputs if whole else self.plan.adapter.broadcast_inputs)
            if mark.hooked:
                _STAGED.inputs = inputs
            else:  # no compile-start hook in this torch: mark on every call
                mark_sizes_dynamic(*inputs)
        try:
            out = compiled(*args, **kwargs)
            self._ran.add(label)
            return out
        except Exception as err:
            if not (_is_compile_failure(err) or _layout_mismatch(err)):
                raise
            fix = _fix_for(err, self.config)
            self.failed[label] = fix
            self.observer.notice("error", f"{self.plan.model_label} {label}: compile failed, running it uncompiled: "
                                          f"{fix}")
            log.warning("Afterburner compile: %s failed (%s); running eager", label, err)
            return eager(*(args[1:] if bound else args), **kwargs)
        finally:
            _STAGED.inputs = staged
            self.observer.report(mark, label, entry)

    # --- swapping ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _swapped(self, owner: Any, swap: Callable[[], Callable[[], None]]) -> Iterator[None]:
        """Compiled code swapped into `owner` (`swap` does it and returns its undo) while the call runs.
        Reference-counted per owner, so a nested or concurrent call (newer ComfyUI may run CFG chunks in
        threads) never undoes it under another."""
        with self._lock:
            depth = self._swap_depth.get(id(owner), 0)
            if depth == 0:
                self._undo[id(owner)] = swap()
            self._swap_depth[id(owner)] = depth + 1
        try:
            yield
        finally:
            with self._lock:
                self._swap_depth[id(owner)] -= 1
                if self._swap_depth[id(owner)] == 0:
                    del self._swap_depth[id(owner)]
                    self._undo.pop(id(owner))()

    def _set_regions(self, owner: Any, paths: list[tuple[str, str]], low_vram: bool = False) -> Callable[[], None]:
        """Compiled regions at `paths`. Under ComfyUI's low-VRAM mode, a block whose weights it patches per op
        keeps its original (runs uncompiled) and the run says so."""
        originals: list[tuple[str, Any]] = []
        per_op = 0

        def undo() -> None:
            for path, module in reversed(originals):
                comfy.utils.set_attr(owner, path, module)

        try:
            for path, label in paths:
                module = comfy.utils.get_attr(owner, path)
                if low_vram and patched_per_op(module):
                    per_op += 1
                    continue
                originals.append((path, module))
                comfy.utils.set_attr(owner, path, self._region_locked(module, label))
        except BaseException:
            undo()
            raise
        if per_op:
            self.note_once("low_vram", f"{self.plan.model_label}: ComfyUI's low-VRAM mode patches the weights of "
                                       f"{per_op} of {len(paths)} blocks per op (a LoRA on offloaded layers); they "
                                       "run uncompiled, as each would compile its own code. The other blocks run "
                                       "compiled; with more free VRAM all of them would")
        return undo

    def _set_methods(self, owner: torch.nn.Module, compiled: tuple[str, ...],
                     uncompiled: tuple[str, ...]) -> Callable[[], None]:
        """Instance attributes shadow the class's methods for this call: the `compiled` ones by their compiled
        code, the `uncompiled` ones by themselves run eagerly. Whatever `owner.<name>` is now (another pack's
        object patch included) is what gets wrapped and put back."""
        previous = {name: vars(owner).get(name, _ABSENT) for name in (*compiled, *uncompiled)}
        for names, wrap in ((compiled, self.compiled_method), (uncompiled, self.uncompiled_method)):
            for name in names:
                object.__setattr__(owner, name, wrap(getattr(owner, name)))

        def undo() -> None:
            for name, value in previous.items():
                if value is _ABSENT:
                    object.__delattr__(owner, name)
                else:
                    object.__setattr__(owner, name, value)

        return undo

    def blocks_swapped(self, diffusion_model: torch.nn.Module,
                       low_vram: bool = True) -> contextlib.AbstractContextManager:
        """`low_vram`: whether ComfyUI may have offloaded part of the model (False skips looking at every layer)."""
        paths = [(region.path, region.label) for region in self.plan.blocks]
        return self._swapped(diffusion_model, lambda: self._set_regions(diffusion_model, paths, low_vram))

    def module_swapped(self, base_model: Any, path: str, label: str) -> contextlib.AbstractContextManager:
        self._whole.add(label)
        return self._swapped(base_model, lambda: self._set_regions(base_model, [(path, label)]))

    def methods_swapped(self, diffusion_model: torch.nn.Module, compiled: tuple[str, ...] = (),
                        uncompiled: tuple[str, ...] = ()) -> contextlib.AbstractContextManager:
        if not compiled and not uncompiled:
            return contextlib.nullcontext()
        return self._swapped(diffusion_model, lambda: self._set_methods(diffusion_model, compiled, uncompiled))

    def note_once(self, key: str, message: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            log.info("Afterburner compile: %s", message)
            self.observer.notice("info", message)

    def blocks_replaced(self, options: dict[str, Any]) -> bool:
        return bool(self.plan.blocks) and bool((options.get("patches_replace") or {}).get("dit"))

    def after_call(self) -> None:
        """Save artifacts after the first call that compiled something new."""
        if self.store is not None and self.key is not None and self.observer.take_save_request():
            persist.save(self.store, self.key, self.plan.model_label)

    # --- the keyed wrappers ---------------------------------------------------------------------------------

    def apply_model_wrapper(self, executor: Any, *args: Any, **kwargs: Any) -> Any:
        """APPLY_MODEL: per-block scope (and whole scope for families without DIFFUSION_MODEL wrappers)."""
        base_model = executor.class_obj
        diffusion_model = base_model.diffusion_model
        try:
            if self.plan.scope == "whole" and not self.blocks_replaced(transformer_options_of(args, kwargs)):
                mark_schedule_dynamic(args, kwargs)  # _apply_model hands these transformer_options on
                with (self.methods_swapped(diffusion_model, uncompiled=self.plan.adapter.uncompiled_methods),
                      self.module_swapped(base_model, "diffusion_model", f"diffusion_model {self.plan.model_label}")):
                    return executor(*args, **kwargs)
            if self.plan.scope == "whole":
                self._note_whole_to_blocks()
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
            if self.blocks_replaced(transformer_options_of(args, kwargs)):
                self._note_whole_to_blocks()
                with self.blocks_swapped(diffusion_model):
                    return executor(*args, **kwargs)
            uncompiled = self.plan.adapter.uncompiled_methods
            if self.plan.adapter.inner_forward is not None:
                with self.methods_swapped(diffusion_model, (self.plan.adapter.inner_forward,), uncompiled):
                    return executor(*args, **kwargs)
            if not all(hasattr(executor, name) for name in ("original", "wrappers", "idx")):  # ComfyUI changed it
                self.note_once("executor", f"{self.plan.model_label}: this ComfyUI's wrapper executor is unknown to "
                                           "Afterburner; compiling per block instead of the whole model" if
                               self.plan.blocks else f"{self.plan.model_label}: this ComfyUI's wrapper executor is "
                               "unknown to Afterburner; whole-model compile is off (running uncompiled)")
                with self.blocks_swapped(diffusion_model) if self.plan.blocks else contextlib.nullcontext():
                    return executor(*args, **kwargs)
            inner = WrapperExecutor.new_class_executor(self.compiled_method(executor.original), diffusion_model,
                                                       executor.wrappers, executor.idx + 1)
            with self.methods_swapped(diffusion_model, uncompiled=uncompiled):
                return inner.execute(*args, **kwargs)
        finally:
            self.after_call()

    def _note_whole_to_blocks(self) -> None:
        self.note_once("whole_to_blocks", f"{self.plan.model_label}: another node replaces blocks (a block cache); "
                                          "compiling per block while it does, so its decisions stay outside "
                                          "compiled code")
