"""Afterburner's step cache with ComfyUI's own TorchCompileModel node, applied before or after it.

TorchCompileModel compiles the whole diffusion model and swaps it in inside an APPLY_MODEL wrapper, so the
cache's DIFFUSION_MODEL wrapper and block replacements run inside that compiled call. Traced, they replayed a
stale feature history (a reused step returned step 0's output). The cache must decide exactly as it does
alone and give the same output within tolerance, whichever node comes first, and tell the user that the
model ran uncompiled under it.
"""

from __future__ import annotations

import pytest
import torch
from comfy_extras.nodes_torch_compile import TorchCompileModel
from helpers import (
    TOL,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    first_block_at_one,
    periodic,
    sample_decisions,
)


def comfy_compiled(model):
    return TorchCompileModel.execute(model, backend="inductor").result[0]


@pytest.mark.parametrize("cache", [periodic, first_block_at_one], ids=["periodic", "first_block"])
def test_cache_decides_and_samples_as_alone_with_comfy_torch_compile_in_either_order(cache):
    base = build("flux")
    reference, decisions = sample_decisions(cache(base), "flux", 1.0)
    assert any(action != "computed" for _, _, action in decisions), "the cache must skip some steps here"
    for name, model in (("TorchCompileModel then cache", cache(comfy_compiled(base))),
                        ("cache then TorchCompileModel", comfy_compiled(cache(base)))):
        for run in range(2):  # the second run reuses whatever the first compiled
            events = Events()
            out, got = sample_decisions(model, "flux", 1.0)
            assert any("TorchCompileModel" in n["message"] for n in events.notices), "the user is not told"
            assert got == decisions, f"{name}, run {run}: the cache decided differently under compile"
            torch.testing.assert_close(out, reference, **TOL, msg=f"{name}, run {run}: output differs")
