"""Which errors of a compiled region are compile failures, and what the user can do about each.

A region whose compile fails (no C++ compiler, a graph break under fullgraph) runs eager from then on and the
failure is reported with its fix. Compile failures happen before the region's code runs, so the eager rerun
sees the same inputs. So does a region whose compiled code meets an output layout that torch did not predict
(the net under a batch compiled for every size): the check fails at the first kernel that breaks it, and
functionalization leaves a block's in-place updates of its inputs (Flux's `img +=`) to the graph's end.
"""

from __future__ import annotations

import torch

from .config import CompileConfig


def layout_mismatch(err: BaseException) -> bool:
    """Compiled code checks that an extern kernel's output has the layout torch's shape inference predicted
    (inductor's `assert_size_stride`)."""
    return isinstance(err, AssertionError) and "expected size" in str(err) and "stride" in str(err)


def is_compile_failure(err: BaseException) -> bool:
    exc = getattr(torch._dynamo, "exc", None)
    if exc is None or not isinstance(err, getattr(exc, "TorchDynamoException", ())):
        return False
    # fail_on_recompile (a test's or a user's stance) and the recompile limit are policy, not failures
    policy = tuple(getattr(exc, name) for name in ("RecompileError", "FailOnRecompileLimitHit") if hasattr(exc, name))
    return not isinstance(err, policy)


def fix_for(err: BaseException, config: CompileConfig) -> str:
    """What to do about `err`, for the notice that says the region runs uncompiled."""
    text = f"{type(err).__name__}: {err}"
    if layout_mismatch(err):
        return f"a kernel gave an output layout torch {torch.__version__} did not predict for a batch of any " \
               "size: set dynamic to on or off (batch 1 is then compiled apart from larger batches)"
    if config.fullgraph and "Unsupported" in type(err).__name__:
        return "it graph-breaks and fullgraph is on: turn fullgraph off (or start ComfyUI with " \
               "--use-pytorch-cross-attention if the break is in attention)"
    if "CppCompileError" in text or "C++ compiler" in text or "g++" in text:
        return "inductor could not run the C++ compiler: install g++ (or clang) or use a GPU with triton"
    return f"see the log ({text.splitlines()[0][:200]})"
