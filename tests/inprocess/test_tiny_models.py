"""The dev pack's tiny-model factory against the real ComfyUI library: every family samples through
`comfy.sample.sample` with a real ModelPatcher, deterministically, and its output depends on the model
weights, the noise seed and the conditioning. Also the demo safetensors files and the dev nodes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import comfy.patcher_extension
import comfy.sample
import folder_paths
import nodes
import pytest
import torch

from devpack import build_demo_models, tiny_models
from devpack.tiny_models import FAMILIES, VIDEO_FAMILIES

REPO = Path(__file__).resolve().parents[2]
STEPS = 3


def frames_for(family: str) -> int:
    return 9 if family in VIDEO_FAMILIES else 1


def run(patcher, family, *, noise_seed=1, cfg=1.0, sampler="euler", pos_seed=1, neg_seed=2, latent=None):
    latent = tiny_models.empty_latent(family, frames=frames_for(family)) if latent is None else latent
    noise = comfy.sample.prepare_noise(latent, noise_seed)
    pos = tiny_models.conditioning(family, seed=pos_seed)
    neg = tiny_models.conditioning(family, seed=neg_seed)
    return comfy.sample.sample(patcher, noise, STEPS, cfg, sampler, "simple", pos, neg, latent,
                               seed=noise_seed, disable_pbar=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_samples_deterministically_and_depends_on_inputs(family):
    model = tiny_models.build_model(family, seed=0)
    base = run(model, family)
    assert base.shape == tiny_models.empty_latent(family, frames=frames_for(family)).shape
    assert torch.isfinite(base).all()
    assert base.std() > 1e-3

    assert torch.equal(run(model, family), base), "same seeds must give bit-identical samples"
    assert torch.equal(run(tiny_models.build_model(family, seed=0), family), base), "rebuilding must be deterministic"
    assert not torch.allclose(run(model, family, noise_seed=2), base), "noise seed must matter"
    assert not torch.allclose(run(model, family, pos_seed=3), base), "conditioning must matter"
    assert not torch.allclose(run(tiny_models.build_model(family, seed=1), family), base), "weights must matter"


@pytest.mark.parametrize("family", FAMILIES)
def test_family_cfg_and_multistep_sampler(family):
    model = tiny_models.build_model(family, seed=0)
    plain = run(model, family, sampler="dpmpp_2m")
    guided = run(model, family, sampler="dpmpp_2m", cfg=4.0)
    assert torch.isfinite(guided).all()
    assert not torch.allclose(guided, plain), "cfg > 1 must use the negative"
    assert not torch.allclose(guided, run(model, family, sampler="dpmpp_2m", cfg=4.0, neg_seed=5))


def test_unknown_family_names_the_valid_ones():
    with pytest.raises(ValueError, match="wan22_high"):
        tiny_models.build_model("sd9")
    with pytest.raises(ValueError, match="flux"):
        tiny_models.empty_latent("nope")


def test_latent_shapes_follow_comfyui():
    assert tiny_models.empty_latent("sd15", batch=2).shape == (2, 4, 8, 8)
    assert tiny_models.empty_latent("flux", width=128, height=64).shape == (1, 16, 8, 16)
    assert tiny_models.empty_latent("wan21", frames=9).shape == (1, 16, 3, 8, 8)  # EmptyHunyuanLatentVideo
    assert tiny_models.empty_latent("hunyuan_video", frames=9).shape == (1, 16, 3, 8, 8)
    assert tiny_models.empty_latent("ltxv", frames=9).shape == (1, 128, 2, 2, 2)  # EmptyLTXVLatentVideo
    assert tiny_models.empty_latent("qwen_image").shape == (1, 16, 1, 8, 8)  # after fix_empty_latent_channels


def test_wan22_experts_share_architecture_but_not_weights():
    high = tiny_models.build_model("wan22_high").model
    low = tiny_models.build_model("wan22_low").model
    assert type(high.model_config).__name__ == type(low.model_config).__name__ == "WAN21_T2V"
    sd_high, sd_low = high.diffusion_model.state_dict(), low.diffusion_model.state_dict()
    assert {k: v.shape for k, v in sd_high.items()} == {k: v.shape for k, v in sd_low.items()}
    assert all(not torch.equal(sd_high[k], sd_low[k]) for k in sd_high if sd_high[k].std() > 0)


# What each family's forward looks up in transformer_options["patches_replace"] (block-replacement hooks).
_UNET_ATTN_SD15 = [("input", 1, 0), ("input", 3, 0), ("middle", 0, 0), *(("output", j, 0) for j in range(4))]
_UNET_ATTN_SDXL = [(b, i, 0) for b, i in [("input", 3), ("middle", 0), ("output", 0), ("output", 1)]]
_DOUBLE3 = [("double_block", i) for i in range(3)]
_FLUX_LIKE = [("double_block", 0), ("double_block", 1), ("single_block", 0), ("single_block", 1)]
EXPECTED_REPLACE_KEYS = {
    "flux": {"dit": _FLUX_LIKE},
    "chroma": {"dit": _FLUX_LIKE},
    "hunyuan_video": {"dit": _FLUX_LIKE},
    "sd3": {"dit": _DOUBLE3},
    "ltxv": {"dit": _DOUBLE3},
    "wan21": {"dit": _DOUBLE3},
    "wan22_high": {"dit": _DOUBLE3},
    "wan22_low": {"dit": _DOUBLE3},
    "qwen_image": {"dit": _DOUBLE3},
    "lumina2": {},  # NextDiT consults no block replacement at all
    "sd15": {"attn1": _UNET_ATTN_SD15, "attn2": _UNET_ATTN_SD15},
    "sdxl": {"attn1": _UNET_ATTN_SDXL, "attn2": _UNET_ATTN_SDXL},
}


@pytest.mark.parametrize("family", FAMILIES)
def test_block_replace_keys_each_family_consults(family):
    model = tiny_models.build_model(family)
    seen = tiny_models.probe_patch_replace_keys(model, tiny_models.empty_latent(family, frames=5),
                                                tiny_models.conditioning(family))
    # UNets look up (block, id, transformer_index) and then fall back to (block, id): keep the full keys.
    found = {name: [k for k in keys if len(k) != 2 or name == "dit"] for name, keys in seen.items() if keys}
    assert found == EXPECTED_REPLACE_KEYS[family]


@pytest.mark.parametrize("family", [f for f in FAMILIES if "dit" in EXPECTED_REPLACE_KEYS[f]])
def test_passthrough_block_replacement_is_exact_and_a_real_one_changes_output(family):
    model = tiny_models.build_model(family)
    base = run(model, family)
    calls = []

    def passthrough(args, extra):
        calls.append(1)
        return extra["original_block"](args)

    patched = model.clone()
    for block_type, index in EXPECTED_REPLACE_KEYS[family]["dit"]:
        patched.set_model_patch_replace(passthrough, "dit", block_type, index)
    assert torch.equal(run(patched, family), base)
    assert len(calls) == STEPS * len(EXPECTED_REPLACE_KEYS[family]["dit"])

    def skip_first(args, extra):
        return {k: args[k] for k in ("img", "txt") if k in args}

    skipped = model.clone()
    skipped.set_model_patch_replace(skip_first, "dit", *EXPECTED_REPLACE_KEYS[family]["dit"][0])
    assert not torch.allclose(run(skipped, family), base), "the first block must contribute"


@pytest.mark.parametrize("family", FAMILIES)
def test_diffusion_model_wrapper_support(family):
    model = tiny_models.build_model(family).clone()
    calls = []

    def wrapper(executor, *args, **kwargs):
        calls.append(1)
        return executor(*args, **kwargs)

    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "probe", wrapper)
    run(model, family)
    # SD3's MMDiT has no DIFFUSION_MODEL wrapper point in ComfyUI 0.3.75 (use APPLY_MODEL there).
    assert len(calls) == (0 if family == "sd3" else STEPS)


@pytest.fixture(scope="module")
def demo_unet_dir(tmp_path_factory):
    unet_dir = tmp_path_factory.mktemp("unet")
    assert set(build_demo_models.build(unet_dir, log=lambda *_: None).values()) == {"written"}
    assert set(build_demo_models.build(unet_dir, log=lambda *_: None).values()) == {"kept"}  # idempotent
    folder_paths.add_model_folder_path("diffusion_models", str(unet_dir), is_default=True)
    yield unet_dir
    folder_paths.folder_names_and_paths["diffusion_models"][0].remove(str(unet_dir))


@pytest.mark.parametrize(("file_name", "family", "class_name"), [
    (build_demo_models.SD15_FILE, "sd15", "SD15"),
    (build_demo_models.SD3_FILE, "sd3", "SD3"),
])
def test_demo_files_load_through_unetloader_and_sample(demo_unet_dir, file_name, family, class_name):
    assert folder_paths.get_full_path("diffusion_models", file_name) == str(demo_unet_dir / file_name)
    model = nodes.UNETLoader().load_unet(file_name, "default")[0]
    assert type(model.model.model_config).__name__ == class_name
    out = run(model, family, cfg=3.0)
    assert torch.isfinite(out).all() and out.std() > 1e-3
    assert not torch.allclose(out, run(model, family, cfg=3.0, pos_seed=4))


def test_build_demo_models_verify_accepts_the_files(demo_unet_dir):
    lines = []
    build_demo_models.verify(demo_unet_dir, log=lines.append)
    assert len(lines) == len(build_demo_models.DEMO_MODELS)


def test_demo_files_rebuilt_when_corrupt(tmp_path):
    (tmp_path / build_demo_models.SD3_FILE).write_bytes(b"not a safetensors file")
    expected = build_demo_models.expected_state_dict(build_demo_models.SD3_FILE)
    assert not build_demo_models.file_is_valid(tmp_path / build_demo_models.SD3_FILE, expected)
    build_demo_models.write_atomic(tmp_path / build_demo_models.SD3_FILE, expected)
    assert build_demo_models.file_is_valid(tmp_path / build_demo_models.SD3_FILE, expected)
    assert [p.name for p in tmp_path.iterdir()] == [build_demo_models.SD3_FILE]  # no temp files left


def test_dev_nodes_register_in_comfyui_and_drive_ksampler():
    pack = REPO / ".comfyui" / "custom_nodes" / "afterburner_devpack"
    pack = pack if pack.is_dir() else REPO / "devpack"
    assert asyncio.run(nodes.load_custom_node(str(pack)))
    ids = ("AfterburnerDevTinyModel", "AfterburnerDevTinyConditioning", "AfterburnerDevTinyLatent")
    classes = [nodes.NODE_CLASS_MAPPINGS[i] for i in ids]
    for cls in classes:
        schema = cls.GET_SCHEMA()
        assert schema.category == "afterburner/dev"
        assert all(inp.tooltip for inp in schema.inputs), f"{schema.node_id}: every input needs a tooltip"
    model_node, cond_node, latent_node = classes

    model = model_node.execute(family="wan22_low", seed=3).result[0]
    assert model_node.execute(family="wan22_low", seed=3).result[0].model is model.model  # cached
    pos = cond_node.execute(family="wan22_low", seed=1, batch=1).result[0]
    neg = cond_node.execute(family="wan22_low", seed=2, batch=1).result[0]
    latent = latent_node.execute(family="wan22_low", width=64, height=64, frames=5, batch=1).result[0]
    out = nodes.KSampler().sample(model, 7, STEPS, 3.0, "euler", "simple", pos, neg, latent)[0]["samples"]
    assert out.shape == (1, 16, 2, 8, 8) and torch.isfinite(out).all()
