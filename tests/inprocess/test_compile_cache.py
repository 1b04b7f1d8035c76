"""Compile and Afterburner's step cache compose in either node order: the cache decides in its own wrappers
and block replacements, outside compiled code, so cache+compile makes the same decisions (the run record's
computed steps) and the same outputs (within tolerance) as the cache alone, and a skipped step or a whole
cached run after warm-up compiles nothing.
"""

from __future__ import annotations

import pytest
import torch
from test_compile_correctness import (
    TOL,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample,
)

from afterburner.py.nodes.cache_nodes import AfterburnerFirstBlockCache, AfterburnerPeriodicCache
from afterburner.py.telemetry import get_bus

STEPS = 8  # the cache engine needs at least 5 steps to be live


def periodic(model):
    return AfterburnerPeriodicCache.execute(model, cache_interval=2, start_step=2, cache_mode="default",
                                            offload_to_cpu=False).result[0]


def first_block(model):
    return AfterburnerFirstBlockCache.execute(model, residual_diff_threshold=1.0, start=0.0, end=1.0,
                                              max_consecutive_cache_hits=-1, cache_mode="default",
                                              offload_to_cpu=False).result[0]


def sample_recorded(model, family: str, cfg: float) -> tuple[torch.Tensor, list[tuple[int, str, str]]]:
    """Output and the run's decisions, (step, branch, action) per step event."""
    bus = get_bus()
    bus.flush()
    before = {run["run_id"] for run in bus.history.recent(50)}
    out = sample(model, family, steps=STEPS, cfg=cfg)
    bus.flush()
    runs = [run for run in bus.history.recent(50) if run["run_id"] not in before]
    assert len(runs) == 1 and runs[0]["status"] == "ok"
    return out, [(s["step"], s["branch"], s["action"]) for s in runs[0]["steps"]]


CASES = [
    pytest.param("flux", first_block, "per block", 1.0, id="flux-first_block-per_block"),
    pytest.param("flux", periodic, "per block", 1.0, id="flux-periodic-per_block"),
    pytest.param("flux", first_block, "whole model", 1.0, id="flux-first_block-whole"),
    pytest.param("sdxl", periodic, "whole model", 4.0, id="sdxl-periodic-whole"),
]


@pytest.mark.parametrize(("family", "cache", "scope", "cfg"), CASES)
def test_cache_and_compile_in_either_order_match_the_cache_alone(family, cache, scope, cfg):
    base = build(family)
    reference, decisions = sample_recorded(cache(base), family, cfg)
    assert any(action != "computed" for _, _, action in decisions), "the cache must skip some steps here"
    for name, model in (("compile then cache", cache(compiled(base, scope=scope))),
                        ("cache then compile", compiled(cache(base), scope=scope))):
        out, got = sample_recorded(model, family, cfg)
        assert got == decisions, f"{name}: the cache decided differently under compile"
        torch.testing.assert_close(out, reference, **TOL, msg=f"{name}: output differs from the cache alone")
        events = Events()
        with torch.compiler.set_stance("fail_on_recompile"):  # warm: skipped steps and new runs compile nothing
            out, got = sample_recorded(model, family, cfg)
        assert got == decisions and events.compiles == []
        torch.testing.assert_close(out, reference, **TOL)


def test_whole_model_compile_with_a_block_cache_compiles_blocks_and_says_so():
    events = Events()
    sample(first_block(compiled(build("flux"), scope="whole model")), "flux", steps=STEPS)
    assert any("compiling per block while it does" in n["message"] for n in events.notices)
    assert all(not e["target"].startswith("diffusion_model") for e in events.compiles)
