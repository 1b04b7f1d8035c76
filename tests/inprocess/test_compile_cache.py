"""Compile and Afterburner's step cache compose in either node order: the cache decides in its own wrappers
and block replacements, outside compiled code, so cache+compile makes the same decisions (the run record's
computed steps) and the same outputs (within tolerance) as the cache alone, and a skipped step or a whole
cached run after warm-up compiles nothing.
"""

from __future__ import annotations

import pytest
import torch
from helpers import (
    STEPS,
    TOL,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    first_block_at_one,
    periodic,
    sample_decisions,
    sample_short,
)

CASES = [
    pytest.param("flux", first_block_at_one, "per block", 1.0, id="flux-first_block-per_block"),
    pytest.param("flux", periodic, "per block", 1.0, id="flux-periodic-per_block"),
    pytest.param("flux", first_block_at_one, "whole model", 1.0, id="flux-first_block-whole"),
    pytest.param("sdxl", periodic, "whole model", 4.0, id="sdxl-periodic-whole"),
]


@pytest.mark.parametrize(("family", "cache", "scope", "cfg"), CASES)
def test_cache_and_compile_in_either_order_match_the_cache_alone(family, cache, scope, cfg):
    base = build(family)
    reference, decisions = sample_decisions(cache(base), family, cfg)
    assert any(action != "computed" for _, _, action in decisions), "the cache must skip some steps here"
    for name, model in (("compile then cache", cache(compiled(base, scope=scope))),
                        ("cache then compile", compiled(cache(base), scope=scope))):
        out, got = sample_decisions(model, family, cfg)
        assert got == decisions, f"{name}: the cache decided differently under compile"
        torch.testing.assert_close(out, reference, **TOL, msg=f"{name}: output differs from the cache alone")
        events = Events()
        with torch.compiler.set_stance("fail_on_recompile"):  # warm: skipped steps and new runs compile nothing
            out, got = sample_decisions(model, family, cfg)
        assert got == decisions and events.compiles == []
        torch.testing.assert_close(out, reference, **TOL)


def test_whole_model_compile_with_a_block_cache_compiles_blocks_and_says_so():
    events = Events()
    sample_short(first_block_at_one(compiled(build("flux"), scope="whole model")), "flux", steps=STEPS)
    assert any("compiling per block while it does" in n["message"] for n in events.notices)
    assert all(not e["target"].startswith("diffusion_model") for e in events.compiles)
