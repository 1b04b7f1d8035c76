"""The glue reads ComfyUI's internals as the real ComfyUI hands them over."""

from __future__ import annotations

import comfy.model_management
import comfy.ops
import pytest
import torch
from comfy.model_patcher import LowVramPatch

from afterburner.py import comfy_glue
from devpack import tiny_models


def test_transformer_options_by_keyword_by_position_or_none():
    options = {"uuids": [1], "sigmas": torch.ones(1)}
    assert comfy_glue.transformer_options((), {"transformer_options": options}) is options
    assert comfy_glue.transformer_options((torch.ones(1), {"x": 1}, options), {}) is options
    assert comfy_glue.transformer_options((torch.ones(1), {"afterburner_run": None}), {}) == {"afterburner_run": None}
    assert comfy_glue.transformer_options((torch.ones(1), {"x": 1}), {}) == {}


def test_wrapper_call_names_positional_and_keyword_arguments_and_replaces_either():
    names = comfy_glue.SAMPLER_SAMPLE_ARGS
    call = comfy_glue.WrapperCall(names, ("wrap", "sigmas", {"model_options": {}}, "callback"), {"noise": "n"})
    assert call["sigmas"] == "sigmas" and call["noise"] == "n" and call.get("latent_image") is None
    args, kwargs = call.replaced("callback", "mine")
    assert args == ("wrap", "sigmas", {"model_options": {}}, "mine") and kwargs == {"noise": "n"}
    args, kwargs = call.replaced("latent_image", "latent")
    assert kwargs == {"noise": "n", "latent_image": "latent"}
    with pytest.raises(KeyError, match="denoise_mask"):
        call["denoise_mask"]


def test_interrupts_are_known_by_type_not_by_name():
    class InterruptProcessingException(Exception):  # another pack's exception of the same name
        pass

    assert comfy_glue.is_interrupt(comfy.model_management.InterruptProcessingException())
    assert not comfy_glue.is_interrupt(InterruptProcessingException())


def test_only_comfyuis_low_vram_patches_count_as_per_op_patching():
    layer = comfy.ops.disable_weight_init.Linear(4, 4)
    block = torch.nn.Sequential(layer)
    assert not comfy_glue.low_vram_patched(block)
    layer.weight_function = [lambda weight: weight * 2]  # a weight wrapper, as a quantization would add
    assert not comfy_glue.low_vram_patched(block)
    layer.bias_function = [LowVramPatch("0.bias", {})]
    assert comfy_glue.low_vram_patched(block)


def test_clone_for_static_weights_is_a_working_clone_on_this_comfyui():
    model = tiny_models.build_model("flux", seed=0)
    for static in (False, True):
        clone = comfy_glue.clone_patcher(model, static_weights=static)
        assert clone is not model and clone.model is model.model and type(clone) is type(model)


def test_model_options_clone_copies_nested_dicts_and_shares_values():
    value = object()
    options = {"transformer_options": {"patches_replace": {"dit": {}}, "x": value}}
    copied = comfy_glue.model_options_clone(options)
    assert copied["transformer_options"] is not options["transformer_options"]
    assert copied["transformer_options"]["patches_replace"]["dit"] is not options["transformer_options"][
        "patches_replace"]["dit"]
    assert copied["transformer_options"]["x"] is value
