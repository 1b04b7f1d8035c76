"""Block cuts (First-Block and Multi-Block caching) on the DiT families: the first-block signal measures real
change, a reused step adds the cached residual of the skipped blocks, and the decision does not depend on
whether cond and uncond arrive batched or in separate calls."""

from __future__ import annotations

import pytest
import torch
from comfy.patcher_extension import WrappersMP
from helpers import CFG, first_block, multi_block, sample, sample_recorded

from afterburner.py.arch import adapter_for
from devpack import tiny_models
from devpack.tiny_models import FAMILIES

DIT_FAMILIES = [f for f in FAMILIES if f not in ("sd15", "sdxl", "lumina2")]
IN_PLACE_FAMILIES = ("flux", "chroma", "hunyuan_video", "ltxv")

@pytest.mark.parametrize("family", DIT_FAMILIES)
def test_first_block_signal_measures_the_change_of_every_step(family):
    """The tiny models' first-block residual changes by far more than 0.1% a step: threshold 0.001 computes
    every step, and every signal after the first step is positive."""
    _, record = sample_recorded(first_block(tiny_models.build_model(family, seed=0), 0.001), family, steps=10)
    signals = [event["signal"] for event in record["steps"] if event["step"] > 0]
    assert all(signal is not None and signal > 0 for signal in signals), f"signals: {signals}"
    assert record["summary"]["computed_calls"] == record["summary"]["model_calls"]


# The module right after the (only) block stage, whose first input is the stream the blocks hand on.
AFTER_BLOCKS = {"wan21": "head", "ltxv": "norm_out", "qwen_image": "norm_out", "sd3": "final_layer"}


def _image_stream(family: str, args: tuple, kwargs: dict) -> torch.Tensor:
    if family == "qwen_image":
        return kwargs["hidden_states"]
    return args[1] if family == "sd3" else args[0]  # MMDiT's joint block takes (context, x)


def _image_output(family: str, out) -> torch.Tensor:
    return out[1] if family in ("qwen_image", "sd3") else out  # those return (context, x)


@pytest.mark.parametrize("family", AFTER_BLOCKS)
def test_reused_step_adds_the_cached_residual_of_the_skipped_blocks(family):
    """Module hooks see, per model call, block 0's output, the skipped span's input and output (when it runs)
    and what reaches the module after the blocks. On a reused call that must be block 0's output plus the span's
    residual (output - input) from the last computed call."""
    model = tiny_models.build_model(family, seed=0)
    network = model.get_model_object("diffusion_model")
    blocks = getattr(network, adapter_for(network).stages[0].attribute)
    calls: list[dict[str, torch.Tensor]] = []

    def first_out(module, args, kwargs, out):
        calls.append({"first_out": _image_output(family, out).clone()})

    def span_in(module, args, kwargs):
        calls[-1]["span_in"] = _image_stream(family, args, kwargs).clone()

    def span_out(module, args, kwargs, out):
        calls[-1]["span_out"] = _image_output(family, out).clone()

    def after(module, args, kwargs):
        calls[-1]["after"] = args[0].clone()

    handles = [blocks[0].register_forward_hook(first_out, with_kwargs=True),
               blocks[1].register_forward_pre_hook(span_in, with_kwargs=True),
               blocks[-1].register_forward_hook(span_out, with_kwargs=True),
               getattr(network, AFTER_BLOCKS[family]).register_forward_pre_hook(after, with_kwargs=True)]
    try:
        sample(first_block(model, 1.0), family, steps=12)
    finally:
        for handle in handles:
            handle.remove()

    assert len(calls) == 12
    residual, reused = None, 0
    for index, call in enumerate(calls):
        if "span_out" in call:
            assert torch.equal(call["after"], call["span_out"])
            residual = call["span_out"] - call["span_in"]
            continue
        reused += 1
        assert residual is not None, "a step was reused before any was computed"
        torch.testing.assert_close(call["after"], call["first_out"] + residual, rtol=1e-6, atol=1e-6,
                                   msg=lambda m, i=index: f"call {i}: {m}")
    assert reused > 0, "threshold 1.0 must reuse some step"


def split_calls(model):
    """A clone on which cond and uncond reach the model in separate calls with unchanged content, as ComfyUI
    does when it estimates that the batched call does not fit in memory; uncond first, as nothing may depend
    on the order."""

    def one_by_one(executor, model, conds, x_in, timestep, model_options, *args, **kwargs):
        outs = {i: executor(model, [c if j == i else None for j, c in enumerate(conds)], x_in, timestep,
                            model_options, *args, **kwargs)[i] for i in reversed(range(len(conds)))}
        return [outs[i] for i in range(len(conds))]

    split = model.clone()
    split.add_wrapper_with_key(WrappersMP.CALC_COND_BATCH, "test.split", one_by_one)
    return split


def _relative_change(new: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    new, ref = new.flatten(1).double(), ref.flatten(1).double()
    return (new - ref).abs().mean(1) / ref.abs().mean(1).clamp_min(1e-8)


@pytest.mark.parametrize("family", ["wan21", "qwen_image"])
@pytest.mark.parametrize("split", [False, True], ids=["batched", "split-calls"])
def test_first_block_signal_is_the_worst_change_of_the_deciding_call(family, split):
    """The recorded signal of each step is the largest relative L1 change, over samples and CFG branches, of the
    first block's residual since the last computed step. When ComfyUI calls the branches separately, the first
    call of the step must decide before the other branch has run, so its branches alone decide (documented in
    py/cache/hooks.py)."""
    model = tiny_models.build_model(family, seed=0)
    network = model.get_model_object("diffusion_model")
    block = getattr(network, adapter_for(network).stages[0].attribute)[0]
    residuals: list[torch.Tensor] = []
    inputs: list[torch.Tensor] = []
    handles = [block.register_forward_pre_hook(lambda m, args, kwargs: inputs.append(
                   _image_stream(family, args, kwargs).clone()), with_kwargs=True),
               block.register_forward_hook(lambda m, args, kwargs, out: residuals.append(
                   _image_output(family, out) - inputs[-1]), with_kwargs=True)]
    steps = 12
    try:
        _, record = sample_recorded(first_block(split_calls(model) if split else model, 1.0), family, steps=steps,
                                    cfg=CFG)
    finally:
        for handle in handles:
            handle.remove()

    per_step = len(residuals) // steps
    assert len(residuals) == steps * per_step == steps * (2 if split else 1)
    events = {event["step"]: event for event in record["steps"]}  # a step's branches carry one signal
    deciding_calls = 1  # batched: the one call holds every branch; split: the first call decides
    reference = residuals[:per_step]
    for step in range(1, steps):
        current = residuals[step * per_step:(step + 1) * per_step]
        expected = max(float(_relative_change(new, ref).max())
                       for new, ref in zip(current[:deciding_calls], reference[:deciding_calls], strict=True))
        assert events[step]["signal"] == pytest.approx(expected, rel=1e-4), f"step {step}"
        if events[step]["action"] == "computed":
            reference = current


@pytest.mark.parametrize("family", DIT_FAMILIES)
def test_block_caches_reuse_and_stay_finite_on_every_dit_family(family):
    model = tiny_models.build_model(family, seed=0)
    stock = sample(model, family, steps=12, cfg=CFG)
    for cached in (first_block(model, 1.0), multi_block(model, 1.0, last_blocks=1, mode="taylor")):
        out, record = sample_recorded(cached, family, steps=12, cfg=CFG)
        assert torch.isfinite(out).all()
        assert record["summary"]["computed_calls"] < record["summary"]["model_calls"]
        assert not torch.allclose(out, stock, atol=1e-4)
