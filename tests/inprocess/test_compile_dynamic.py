"""No needless recompiles: with dynamic "auto" each kind of change (resolution, prompt length, batch size)
recompiles at most once per block class, after which a sweep over further sizes,
step counts and seeds runs under `torch.compiler.set_stance("fail_on_recompile")`; and each recompile is
an event whose reason names the size that changed.
"""

from __future__ import annotations

import collections

import pytest
import torch
from test_compile_correctness import (
    FIRST_CALL_COMPILES,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample,
)

# (size, batch, prompt tokens): first compile, then one change at a time
WARM_UP = [(64, 1, 8), (96, 1, 8), (96, 1, 12), (80, 2, 8)]
CHANGES = ["first compile", "resolution", "prompt length", "batch size"]


def _block_class(target: str) -> str:
    return target.split(" ")[1]


@pytest.mark.parametrize("family", ["flux", "wan21"])
def test_each_change_recompiles_at_most_once_then_never(family):
    torch._dynamo.reset()  # a clean slate: earlier tests may already have made sizes dynamic
    model = compiled(build(family))
    reasons = []
    for (size, batch, tokens), change in zip(WARM_UP, CHANGES, strict=True):
        events = Events()
        sample(model, family, steps=2, size=size, batch=batch, tokens=tokens)
        per_class = collections.Counter(_block_class(e["target"]) for e in events.compiles)
        allowed = FIRST_CALL_COMPILES[family] if change == "first compile" else 1
        assert all(n <= allowed for n in per_class.values()), f"{change}: {events.compiles}"
        if change != "first compile":
            assert all(e["recompile"] for e in events.compiles)
            reasons += [e["reason"] for e in events.compiles]
    assert reasons and all("mismatch" in r for r in reasons), reasons
    assert any("size mismatch at index" in r and "expected" in r and "actual" in r for r in reasons), reasons

    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):
        for size in (64, 80, 112):
            for batch in (1, 2):
                out = sample(model, family, steps=2 + batch % 2, seed=size + batch, size=size, batch=batch,
                             tokens=8 if size != 80 else 16)
                assert torch.isfinite(out).all()
    assert events.compiles == []


def test_whole_model_compile_does_not_recompile_for_another_step_count():
    """The schedule (`sample_sigmas`, one entry per step) reaches a whole-model compile: its length is not a
    guard, nor are sigma values."""
    model = compiled(build("sdxl"), scope="whole model")
    sample(model, "sdxl", steps=3, cfg=4.0)
    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):
        for steps in (2, 5, 9):
            sample(model, "sdxl", steps=steps, cfg=4.0, seed=steps)
    assert events.compiles == []
