"""The compile node on the real ComfyUI: compiled output matches eager on flux, sdxl and wan21, bypass is exact,
the input model is untouched, and what cannot be compiled runs eager and says why.

Compiling is slow on CPU (a cold inductor compile of one block is 10-40 s on this machine, a warm one 2-3 s),
so the tests share compiled code: they use few shapes, and inductor's cache lives in `.cache/inductor-tests`
(warm across runs, set in conftest.py) unless TORCHINDUCTOR_CACHE_DIR is set. Attention is ComfyUI's PyTorch
SDPA through its `optimized_attention_override` hook: the CPU default (sub-quadratic) graph-breaks under compile.
"""

from __future__ import annotations

import comfy.model_management
import pytest
import torch
from helpers import (
    TOL,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    module_snapshot,
    options_snapshot,
    sample_short,
)

from devpack import tiny_models

# ------------------------------------------------------------------------------------------------------------
# compiled output matches eager
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "cfg", "expected_targets"), [
    ("flux", 1.0, {"double_blocks[0] DoubleStreamBlock", "single_blocks[0] SingleStreamBlock"}),
    ("wan21", 1.0, {"blocks[0] WanAttentionBlock"}),
    ("lumina2", 1.0, {"context_refiner[0] JointTransformerBlock", "noise_refiner[0] JointTransformerBlock"}),
    ("sdxl", 4.0, {"diffusion_model UNetModel"}),
])
def test_compiled_output_matches_eager(family, cfg, expected_targets):
    model = build(family)
    eager = sample_short(model, family, cfg=cfg)
    events = Events()
    fast = compiled(model)
    out = sample_short(fast, family, cfg=cfg)
    torch.testing.assert_close(out, eager, **TOL)
    assert torch.isfinite(out).all()
    # (compiled code may already exist from an earlier test in this process: then nothing compiles here)
    assert {e["target"] for e in events.compiles if not e["recompile"]} <= expected_targets
    if family == "sdxl":  # a UNet has no block stages: whole model, and the node says so
        assert any("compiling the whole model" in n["message"] for n in events.notices)
    # a second run compiles nothing (blocks of one class share compiled code; sigma is not a guard)
    again = Events()
    torch.testing.assert_close(sample_short(fast, family, cfg=cfg), eager, **TOL)
    assert again.compiles == []


def test_blocks_of_one_class_share_compiled_code():
    """Per block: one compile per block class (flux: 2 double + 2 single blocks -> 2 compiles at most)."""
    model = build("flux")
    torch._dynamo.reset()  # count from scratch (inductor's cache keeps this cheap)
    events = Events()
    sample_short(compiled(model), "flux")
    first = [e for e in events.compiles if not e["recompile"]]
    assert sorted(e["target"] for e in first) == ["double_blocks[0] DoubleStreamBlock",
                                                  "single_blocks[0] SingleStreamBlock"]
    assert all(e["duration_s"] > 0 and e["model"] == "Flux" for e in first)
    assert [e["count"] for e in events.compiles] == list(range(1, len(events.compiles) + 1))


# ------------------------------------------------------------------------------------------------------------
# bypass is exact; the input model is not modified
# ------------------------------------------------------------------------------------------------------------


def test_input_model_is_untouched_and_samples_bit_identically_afterwards():
    model = build("flux")
    before = sample_short(model, "flux")
    snapshot, modules = options_snapshot(model), module_snapshot(model)
    fast = compiled(model)
    assert fast is not model
    assert options_snapshot(model) == snapshot, "the compile node modified its input model"
    sample_short(fast, "flux")
    assert options_snapshot(model) == snapshot, "sampling the compiled model modified the input model"
    assert module_snapshot(model) == modules, "compiled modules or weight flags were left in the input model"
    assert torch.equal(sample_short(model, "flux"), before), "the input model samples differently afterwards"


def test_an_interrupted_compiled_run_leaves_the_model_as_it_was():
    """ComfyUI's interrupt (raised from the sampler's step callback) ends a compiled run: the blocks and the
    weight flags are back as they were, and the next run, compiled or not, is unaffected."""
    model = build("flux")
    before = sample_short(model, "flux")
    modules = module_snapshot(model)
    fast = compiled(model)
    out = sample_short(fast, "flux")

    def interrupt(step, *args, **kwargs):
        if step == 1:
            raise comfy.model_management.InterruptProcessingException()

    with pytest.raises(comfy.model_management.InterruptProcessingException):
        sample_short(fast, "flux", callback=interrupt)
    assert module_snapshot(model) == modules
    assert torch.equal(sample_short(fast, "flux"), out)
    assert torch.equal(sample_short(model, "flux"), before)


def test_cudagraphs_without_cuda_runs_eager_bit_identically_and_says_so():
    model = build("flux")
    events = Events()
    out = sample_short(compiled(model, backend="cudagraphs"), "flux")
    assert torch.equal(out, sample_short(model, "flux"))
    assert any("cudagraphs backend needs a CUDA GPU" in n["message"] for n in events.notices)
    assert events.compiles == []


def test_fullgraph_graph_break_is_reported_and_the_block_runs_eager():
    """Without the SDPA override ComfyUI's CPU attention graph-breaks: fullgraph turns that into a reported
    failure with its fix, and the model still runs (eagerly) with stock ComfyUI's result."""
    model = tiny_models.build_model("flux", seed=0)  # default (sub-quadratic) attention
    events = Events()
    out = sample_short(compiled(model, fullgraph=True, save=False), "flux")
    assert torch.equal(out, sample_short(model, "flux"))
    messages = [n["message"] for n in events.notices]
    assert any("sub_quad attention" in m and "--use-pytorch-cross-attention" in m for m in messages), messages
    failures = [m for m in messages if "compile failed" in m]
    assert failures and all("fullgraph" in m for m in failures), messages


def test_an_unpredicted_output_layout_runs_the_block_eager_and_says_so():
    """A block compiled for any batch (an unbacked batch) whose kernel returns a layout torch's shape inference
    did not predict: on CPU, a convolution (inductor makes it channels-last; the prediction is contiguous). No
    family's blocks have one; this is the net for one that would. The block runs eager, with the same result."""
    from afterburner.py.arch import Adapter, CompileFacts
    from afterburner.py.compile.config import CompileConfig
    from afterburner.py.compile.regions import Plan
    from afterburner.py.compile.runtime import CompiledModel

    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(4, 16, 3, padding=1), torch.nn.SiLU())
    adapter = Adapter("test", (), model_wrapper="apply_model", compile=CompileFacts(broadcast_inputs=()))
    plan = Plan(adapter, "Net", "block", ())
    runtime = CompiledModel(CompileConfig(persist=False), plan, None, None)
    region = runtime.region_for(block, "convs[0] Sequential")
    events = Events()
    with torch.inference_mode():
        for batch in (1, 2):
            x = torch.randn(batch, 4, 8, 8)
            assert torch.equal(region(x), block(x))
    assert list(runtime.failed) == ["convs[0] Sequential"]
    messages = [n["message"] for n in events.notices]
    assert any("output layout" in m and "set dynamic to on or off" in m for m in messages), messages
