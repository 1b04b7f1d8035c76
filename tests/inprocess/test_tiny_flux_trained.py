"""The committed tiny *trained* Flux-class model (bench/tiny_flux.py, bench/models/tiny_flux.safetensors)
samples through the real `comfy.sample.sample` with a real ModelPatcher: finite, deterministic per seed,
and conditioned (different classes give images with different colour and shape statistics)."""

from __future__ import annotations

import logging

import comfy.model_base
import comfy.model_patcher
import comfy.sample
import pytest
import torch

from bench import tiny_flux

STEPS = 12


@pytest.fixture(scope="module")
def model():
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.WARNING)
    yield tiny_flux.load_model()
    logging.getLogger().setLevel(level)


def sample_trained(model, class_id, seed=0, batch=2, cfg=1.0):
    latent = tiny_flux.empty_latent(batch)
    noise = comfy.sample.prepare_noise(latent, seed)
    return comfy.sample.sample(model, noise, STEPS, cfg, "euler", "simple",
                               tiny_flux.conditioning(class_id, batch), tiny_flux.conditioning(None, batch),
                               latent, seed=seed, disable_pbar=True)


def foreground_colour(images):
    """Mean RGB over the saturated (shape) pixels of a batch; the training backgrounds are low-saturation."""
    sat = images.amax(dim=1) - images.amin(dim=1)  # [B, H, W]
    mask = sat > 0.35
    assert mask.sum() >= 20, "no saturated foreground in the decoded samples"
    return images.permute(0, 2, 3, 1)[mask].mean(dim=0)  # [3]


def stripe_energy(images):
    """(variation along y, variation along x) of the grey image: horizontal stripes vary along y."""
    grey = images.mean(dim=1)
    return (grey.diff(dim=1).abs().mean().item(), grey.diff(dim=2).abs().mean().item())


def test_weights_load_into_the_real_flux_class(model):
    assert isinstance(model, comfy.model_patcher.ModelPatcher)
    assert isinstance(model.model, comfy.model_base.Flux)
    assert type(model.model.diffusion_model).__module__ == "comfy.ldm.flux.model"
    assert 2_000_000 <= tiny_flux.param_count(model) <= 5_000_000
    assert len(tiny_flux.CLASS_NAMES) == tiny_flux.NUM_CLASSES
    cond = tiny_flux.conditioning(3, batch=2)
    assert cond[0][0].shape == (2, tiny_flux.TOKENS, tiny_flux.CONFIG["context_in_dim"])
    assert cond[0][1]["pooled_output"].shape == (2, tiny_flux.CONFIG["vec_in_dim"])
    assert cond[0][1]["guidance"] == tiny_flux.GUIDANCE


def test_encode_decode_are_exact_inverses():
    images = torch.rand((2, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    latent = tiny_flux.encode(images)
    assert latent.shape == (2, 16, tiny_flux.LATENT_SIZE, tiny_flux.LATENT_SIZE)
    assert torch.allclose(tiny_flux.decode(latent), images, atol=1e-5)


def test_samples_are_finite_deterministic_and_conditioned(model):
    red_disc = sample_trained(model, 0)
    assert red_disc.shape == tiny_flux.empty_latent(2).shape
    assert torch.isfinite(red_disc).all()
    assert torch.equal(sample_trained(model, 0), red_disc), "same seed must give a bit-identical sample"
    assert not torch.equal(sample_trained(model, 0, seed=1), red_disc), "the noise seed must matter"

    red = foreground_colour(tiny_flux.decode(red_disc))
    blue = foreground_colour(tiny_flux.decode(sample_trained(model, 1)))
    assert red[0] - red[2] > 0.3, f"class 0 (red disc) foreground RGB {red.tolist()}"
    assert blue[2] - blue[0] > 0.3, f"class 1 (blue square) foreground RGB {blue.tolist()}"

    horizontal = stripe_energy(tiny_flux.decode(sample_trained(model, 4)))
    vertical = stripe_energy(tiny_flux.decode(sample_trained(model, 5)))
    assert horizontal[0] > 1.5 * horizontal[1], f"horizontal stripes: (dy, dx) variation {horizontal}"
    assert vertical[1] > 1.5 * vertical[0], f"vertical stripes: (dy, dx) variation {vertical}"


def test_cfg_uses_the_null_conditioning(model):
    guided = sample_trained(model, 2, cfg=3.0)
    assert torch.isfinite(guided).all()
    assert not torch.equal(guided, sample_trained(model, 2))
    green = foreground_colour(tiny_flux.decode(guided))
    assert green[1] - max(green[0], green[2]) > 0.2, f"class 2 (green triangle) foreground RGB {green.tolist()}"


def test_comfy_model_call_matches_the_training_objective(model):
    """ComfyUI's own latent handling and model call (process_latent_in, apply_model's CONST flow
    parametrisation) see the data the network was trained on: from a noised training image it recovers
    most of the clean image."""
    from bench.train_tiny_flux import make_images

    gen = torch.Generator().manual_seed(7)
    labels = torch.tensor([0, 1, 4, 5])
    images = make_images(labels, gen)
    x0 = model.model.process_latent_in(tiny_flux.encode(images))
    assert torch.allclose(x0, tiny_flux.to_internal(images), atol=1e-5)
    sigma = torch.full((4,), 0.5)
    xt = 0.5 * x0 + 0.5 * torch.randn(x0.shape, generator=gen)
    context, pooled = tiny_flux.class_embeddings()
    with torch.no_grad():
        denoised = model.model.apply_model(xt, sigma, c_crossattn=context[labels], y=pooled[labels],
                                           guidance=torch.full((4,), tiny_flux.GUIDANCE))
    err_model = (denoised - x0).pow(2).mean()
    err_blurry_mean = (x0.mean(dim=(0, 2, 3), keepdim=True) - x0).pow(2).mean()
    assert err_model < 0.5 * err_blurry_mean, (err_model.item(), err_blurry_mean.item())
