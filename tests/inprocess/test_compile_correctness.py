"""The compile node on the real ComfyUI: compiled output matches eager on flux, sdxl and wan21, bypass is exact,
the input model is untouched, and what cannot be compiled runs eager and says why.

This module also holds the helpers the other `test_compile_*.py` modules import. Compiling is slow on CPU
(a cold inductor compile of one block is 10-40 s on this machine, a warm one 2-3 s), so the tests share
compiled code: they use few shapes, and inductor's cache lives in `.cache/inductor-tests` (warm across runs)
unless TORCHINDUCTOR_CACHE_DIR is set. Attention is ComfyUI's PyTorch SDPA through its
`optimized_attention_override` hook: the CPU default (sub-quadratic) graph-breaks under compile.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO / ".cache" / "inductor-tests"))

import comfy.model_management  # noqa: E402 - inductor reads its cache dir from the environment
import comfy.sample  # noqa: E402
import folder_paths  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from comfy.ldm.modules.attention import attention_pytorch  # noqa: E402
from helpers import options_snapshot  # noqa: E402

from afterburner.py.compile import persist  # noqa: E402
from afterburner.py.compile.artifacts import FOLDER_NAME  # noqa: E402
from afterburner.py.nodes.compile_nodes import AfterburnerCompile  # noqa: E402
from afterburner.py.telemetry import get_bus  # noqa: E402
from devpack import tiny_models  # noqa: E402
from devpack.tiny_models import VIDEO_FAMILIES  # noqa: E402

TOL = {"rtol": 1e-3, "atol": 1e-3}
STEPS = 3
# Compiles per block class in a family's first call. Wan's first block gets a non-contiguous input (patch
# embedding, transposed), the others a contiguous one: a stride guard. The first call compiles both layouts,
# after which the compiled blocks pass that input contiguous (layouts.Layouts): one entry per change again.
# Lumina2's context refiner has no modulation (`adaln_input` None), its other blocks do: two entries. Its rope
# table, sliced for the refiners, is always passed contiguous (`CompileFacts.contiguous_inputs`), or the first call
# would compile a third.
FIRST_CALL_COMPILES = {"flux": 1, "wan21": 2, "lumina2": 2}

# ------------------------------------------------------------------------------------------------------------
# helpers shared by the test_compile_* modules
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def compile_isolation(tmp_path_factory):
    """Quiet ComfyUI's logging; compiled artifacts go to a temporary folder, not the real models folder.
    The other test_compile_* modules import this fixture so that it runs for them too."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.WARNING)
    saved = folder_paths.folder_names_and_paths.get(FOLDER_NAME)
    folder_paths.folder_names_and_paths[FOLDER_NAME] = ([str(tmp_path_factory.mktemp("compile_artifacts"))], set())
    persist.forget_loaded()
    yield
    if saved is None:
        folder_paths.folder_names_and_paths.pop(FOLDER_NAME, None)
    else:
        folder_paths.folder_names_and_paths[FOLDER_NAME] = saved
    logging.getLogger().setLevel(level)


def sdpa_override(func, *args: Any, **kwargs: Any) -> torch.Tensor:
    return attention_pytorch(*args, **kwargs)


def build(family: str, seed: int = 0, variant: tuple[str, dict[str, Any]] | None = None):
    """The tiny model with ComfyUI's PyTorch attention (the override travels with every clone), built under
    inference mode as ComfyUI's executor loads models (its weights are inference tensors, as a LoRA's are).
    variant: another (`comfy.supported_models` class, unet config) of the family's diffusion-model class."""
    with torch.inference_mode():
        model = (tiny_models.build_model(family, seed=seed) if variant is None
                 else tiny_models.build_from_config(*variant, seed=seed))
    model.model_options["transformer_options"]["optimized_attention_override"] = sdpa_override
    return model


def compiled(model, *, backend: str = "inductor", mode: str = "default", dynamic: str = "auto",
             fullgraph: bool = False, scope: str = "per block", save: bool = True):
    return AfterburnerCompile.execute(model, backend=backend, mode=mode, dynamic=dynamic, fullgraph=fullgraph,
                                      scope=scope, save_compiled=save).result[0]


def sample(model, family: str, *, steps: int = STEPS, cfg: float = 1.0, seed: int = 1, batch: int = 1,
           size: int = 64, tokens: int = 8, **kwargs: Any) -> torch.Tensor:
    latent = tiny_models.empty_latent(family, batch, size, size, frames=5 if family in VIDEO_FAMILIES else 1)
    noise = comfy.sample.prepare_noise(latent, seed)
    positive = tiny_models.conditioning(family, seed=1, tokens=tokens)
    negative = tiny_models.conditioning(family, seed=2, tokens=tokens)
    with torch.inference_mode():
        return comfy.sample.sample(model, noise, steps, cfg, "euler", "simple", positive, negative, latent,
                                   seed=seed, disable_pbar=True, **kwargs)


class Events:
    """Compile events and notices emitted since construction (from the process-wide bus's bounded history)."""

    def __init__(self) -> None:
        bus = get_bus()
        bus.flush()
        self._last_compile = bus.history.compiles[-1] if bus.history.compiles else None
        self._last_notice = bus.history.notices[-1] if bus.history.notices else None

    @staticmethod
    def _after(items, last) -> list[dict]:
        items = list(items)
        for index in range(len(items) - 1, -1, -1):  # payloads are distinct dicts: find ours by identity
            if items[index] is last:
                return items[index + 1:]
        return items

    @property
    def compiles(self) -> list[dict]:
        bus = get_bus()
        bus.flush()
        return self._after(bus.history.compiles, self._last_compile)

    @property
    def notices(self) -> list[dict]:
        bus = get_bus()
        bus.flush()
        return self._after(bus.history.notices, self._last_notice)


def module_snapshot(model) -> dict[str, Any]:
    """The diffusion model's submodule objects and parameter objects, by name."""
    dm = model.get_model_object("diffusion_model")
    return {"modules": {name: id(m) for name, m in dm.named_modules()},
            "params": {name: (id(p), p.requires_grad) for name, p in dm.named_parameters()}}


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
    eager = sample(model, family, cfg=cfg)
    events = Events()
    fast = compiled(model)
    out = sample(fast, family, cfg=cfg)
    torch.testing.assert_close(out, eager, **TOL)
    assert torch.isfinite(out).all()
    # (compiled code may already exist from an earlier test in this process: then nothing compiles here)
    assert {e["target"] for e in events.compiles if not e["recompile"]} <= expected_targets
    if family == "sdxl":  # a UNet has no block stages: whole model, and the node says so
        assert any("compiling the whole model" in n["message"] for n in events.notices)
    # a second run compiles nothing (blocks of one class share compiled code; sigma is not a guard)
    again = Events()
    torch.testing.assert_close(sample(fast, family, cfg=cfg), eager, **TOL)
    assert again.compiles == []


def test_blocks_of_one_class_share_compiled_code():
    """Per block: one compile per block class (flux: 2 double + 2 single blocks -> 2 compiles at most)."""
    model = build("flux")
    torch._dynamo.reset()  # count from scratch (inductor's cache keeps this cheap)
    events = Events()
    sample(compiled(model), "flux")
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
    before = sample(model, "flux")
    snapshot, modules = options_snapshot(model), module_snapshot(model)
    fast = compiled(model)
    assert fast is not model
    assert options_snapshot(model) == snapshot, "the compile node modified its input model"
    sample(fast, "flux")
    assert options_snapshot(model) == snapshot, "sampling the compiled model modified the input model"
    assert module_snapshot(model) == modules, "compiled modules or weight flags were left in the input model"
    assert torch.equal(sample(model, "flux"), before), "the input model samples differently afterwards"


def test_an_interrupted_compiled_run_leaves_the_model_as_it_was():
    """ComfyUI's interrupt (raised from the sampler's step callback) ends a compiled run: the blocks and the
    weight flags are back as they were, and the next run, compiled or not, is unaffected."""
    model = build("flux")
    before = sample(model, "flux")
    modules = module_snapshot(model)
    fast = compiled(model)
    out = sample(fast, "flux")

    def interrupt(step, *args, **kwargs):
        if step == 1:
            raise comfy.model_management.InterruptProcessingException()

    with pytest.raises(comfy.model_management.InterruptProcessingException):
        sample(fast, "flux", callback=interrupt)
    assert module_snapshot(model) == modules
    assert torch.equal(sample(fast, "flux"), out)
    assert torch.equal(sample(model, "flux"), before)


def test_cudagraphs_without_cuda_runs_eager_bit_identically_and_says_so():
    model = build("flux")
    events = Events()
    out = sample(compiled(model, backend="cudagraphs"), "flux")
    assert torch.equal(out, sample(model, "flux"))
    assert any("cudagraphs backend needs a CUDA GPU" in n["message"] for n in events.notices)
    assert events.compiles == []


def test_fullgraph_graph_break_is_reported_and_the_block_runs_eager():
    """Without the SDPA override ComfyUI's CPU attention graph-breaks: fullgraph turns that into a reported
    failure with its fix, and the model still runs (eagerly) with stock ComfyUI's result."""
    model = tiny_models.build_model("flux", seed=0)  # default (sub-quadratic) attention
    events = Events()
    out = sample(compiled(model, fullgraph=True, save=False), "flux")
    assert torch.equal(out, sample(model, "flux"))
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
