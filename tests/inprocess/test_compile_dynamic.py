"""No needless recompiles. With dynamic "auto" the first compile is already general in resolution and prompt
length (its inputs' sizes are marked dynamic up front), so further sizes, step counts and seeds run under
`torch.compiler.set_stance("fail_on_recompile")`. Size 1 is torch's special case: the first batch larger
than 1 recompiles once per block class, with a reason that names the size, and then no batch size does.
"""

from __future__ import annotations

import collections

import pytest
import torch
from test_compile_correctness import (
    FIRST_CALL_COMPILES,
    TOL,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample,
)


def _per_class(events: Events) -> collections.Counter:
    return collections.Counter(e["target"].split(" ")[1] for e in events.compiles)


@pytest.mark.parametrize("family", ["flux", "wan21"])
def test_first_compile_is_general_then_batch_recompiles_once(family):
    torch._dynamo.reset()  # a clean slate: earlier tests may already have made sizes dynamic
    model = compiled(build(family))
    events = Events()
    sample(model, family, steps=2, size=64, batch=1, tokens=8)
    assert all(n <= FIRST_CALL_COMPILES[family] for n in _per_class(events).values()), events.compiles

    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):  # new resolutions and prompt lengths at batch 1
        for size, tokens in ((96, 12), (80, 16), (112, 8)):
            assert torch.isfinite(sample(model, family, steps=2, seed=size, size=size, tokens=tokens)).all()
    assert events.compiles == []

    events = Events()
    sample(model, family, steps=2, size=80, batch=2, tokens=12)
    assert all(n <= 1 for n in _per_class(events).values()), events.compiles
    reasons = [e["reason"] for e in events.compiles]
    assert reasons and all(e["recompile"] for e in events.compiles)
    assert any("size mismatch at index 0" in r and "expected 1" in r and "actual 2" in r for r in reasons), reasons

    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):
        for size in (64, 96, 112):
            for batch in (1, 2, 3):
                out = sample(model, family, steps=2 + batch % 2, seed=size + batch, size=size, batch=batch,
                             tokens=8 if size != 96 else 16)
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


def test_whole_model_compile_of_a_dit_recompiles_once_for_a_new_resolution_then_never():
    """A DiT's whole-model compile starts behind its position ids (torch.linspace over the latent's size), so
    the first new resolution makes the sizes dynamic (torch's automatic dynamic) and no later one recompiles;
    the compiled method is the model's only while a call runs."""
    model = compiled(build("flux"), scope="whole model")
    reference = sample(build("flux"), "flux", size=80)
    sample(model, "flux", size=64)
    events = Events()
    torch.testing.assert_close(sample(model, "flux", size=80), reference, **TOL)
    assert len(events.compiles) <= 1 and all(e["target"] == "diffusion_model Flux" for e in events.compiles)
    assert "forward_orig" not in vars(model.get_model_object("diffusion_model"))
    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):
        for size, tokens in ((96, 12), (112, 8), (48, 16)):
            assert torch.isfinite(sample(model, "flux", seed=size, size=size, tokens=tokens)).all()
    assert events.compiles == []
