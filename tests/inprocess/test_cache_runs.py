"""Cached runs stay correct under what real graphs do: batches, every kind of sampler, several runs in a row,
an interrupt, Wan 2.2's two experts, and ComfyUI's own EasyCache beside or on top of ours."""

from __future__ import annotations

import comfy.model_management
import comfy.sample
import pytest
import torch
from comfy.patcher_extension import WrappersMP
from comfy_extras.nodes_easycache import EasyCacheNode
from helpers import (
    CFG,
    STEPS,
    actions_by_step,
    auto,
    latent_for,
    periodic,
    records_since,
    run_ids,
    sample,
    sample_recorded,
)
from test_cache_reuse import check_forced_schedule

from devpack import tiny_models

# ------------------------------------------------------------------------------------------------------------
# batches: one decision per step for the whole batch
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["flux", "sd15", "wan21"])
@pytest.mark.parametrize("batch", [2, 4])
def test_identical_samples_in_a_batch_match_batch_one(family, batch):
    model = auto(tiny_models.build_model(family, seed=0), 0.5)
    latent = latent_for(family)
    noise = comfy.sample.prepare_noise(latent, 1)
    one, one_record = sample_recorded(model, family, cfg=CFG, noise=noise, latent=latent)
    repeat = (batch, *[1] * (noise.ndim - 1))
    many, many_record = sample_recorded(model, family, cfg=CFG, noise=noise.repeat(repeat),
                                        latent=latent_for(family, batch))
    # 1e-5 of the output's scale: batched kernels round differently from batch 1, in stock ComfyUI too
    tolerance = 1e-5 * float(one.abs().max())
    for index in range(batch):
        torch.testing.assert_close(many[index:index + 1], one, rtol=0, atol=tolerance)
    assert actions_by_step(many_record) == actions_by_step(one_record)
    assert many_record["summary"]["computed_calls"] == one_record["summary"]["computed_calls"]
    assert one_record["summary"]["computed_calls"] < one_record["summary"]["model_calls"]


@pytest.mark.parametrize("family", ["flux", "sd15"])
@pytest.mark.parametrize("split", [False, True], ids=["batched", "split-calls"])
def test_forced_schedule_on_a_batch_of_different_samples_is_all_or_none(family, split):
    """A batch of 3 different noises: a reused step hands every sample its branch's last computed output."""
    check_forced_schedule(family, "default", CFG, split, batch=3)


# ------------------------------------------------------------------------------------------------------------
# samplers
# ------------------------------------------------------------------------------------------------------------

SAMPLERS = ["euler", "dpmpp_2m", "dpmpp_2m_sde", "heun", "uni_pc"]
TWO_EVALUATIONS = {"heun"}  # model evaluations per step (the final step, to sigma 0, has one)


@pytest.mark.parametrize("family", ["flux", "sd15"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_auto_cache_under_every_sampler_kind(family, sampler):
    steps = 12
    out, record = sample_recorded(auto(tiny_models.build_model(family, seed=0), 0.5), family, steps=steps, cfg=CFG,
                                  sampler=sampler)
    assert torch.isfinite(out).all()
    summary = record["summary"]
    evaluations = 2 * steps - 1 if sampler in TWO_EVALUATIONS else steps
    assert summary["model_calls"] == 2 * evaluations, "every model evaluation of every branch is counted"
    assert summary["computed_calls"] < summary["model_calls"], "Auto 0.5 must reuse something"
    actions = actions_by_step(record)
    assert sorted(actions) == list(range(steps)), "step events must cover every sampler step"
    assert all(len(seen) == 1 for seen in actions.values()), "a step's evaluations and branches must agree"
    assert actions[0] == actions[steps - 1] == {"computed"}


@pytest.mark.parametrize("sampler", ["heun", "dpm_2"])
def test_a_decision_covers_the_evaluations_up_to_the_samplers_next_report(sampler):
    """Two-stage samplers report step i after its first evaluation; a decision covers every evaluation up to the
    sampler's next report, so Heun's corrector at sigma[i+1] shares step i+1's decision (one noise level)."""
    steps = 10
    _, record = sample_recorded(periodic(tiny_models.build_model("flux", seed=0)), "flux", steps=steps,
                                sampler=sampler)
    per_step = [sum(1 for event in record["steps"] if event["step"] == step) for step in range(steps)]
    assert per_step == [1] + [2] * (steps - 1)
    computed = {0, 1, 2, 4, 6, 8, 9}
    assert actions_by_step(record) == {s: {"computed" if s in computed else "reused"} for s in range(steps)}


# ------------------------------------------------------------------------------------------------------------
# several runs, interrupts, two experts
# ------------------------------------------------------------------------------------------------------------


def test_runs_in_a_row_with_other_models_and_resolutions_leak_nothing():
    """Each checked run follows one of the same latent shape with other content (what a leaked reference or
    history would be compared with), and one at another resolution."""
    flux = auto(tiny_models.build_model("flux", seed=0), 0.5)
    chroma = auto(tiny_models.build_model("chroma", seed=0), 0.5, mode="taylor")  # flux's latent layout
    flux_square = sample(flux, "flux", cfg=CFG)  # the first run of each in this test
    chroma_wide = sample(chroma, "chroma", cfg=CFG, width=96, height=64)
    sample(flux, "flux", cfg=CFG, width=96, height=64, seed=3)  # same model, another resolution
    sample(chroma, "chroma", cfg=1.0, seed=7)  # another model, the next run's shape
    assert torch.equal(sample(flux, "flux", cfg=CFG), flux_square)
    sample(flux, "flux", cfg=CFG, width=96, height=64, seed=4)
    assert torch.equal(sample(chroma, "chroma", cfg=CFG, width=96, height=64), chroma_wide)


def test_interrupted_run_is_recorded_and_the_next_run_is_unaffected():
    model = auto(tiny_models.build_model("flux", seed=0), 0.5)
    reference, reference_record = sample_recorded(model, "flux", steps=10, cfg=CFG)

    def interrupt(step, *args, **kwargs):
        if step == 4:
            raise comfy.model_management.InterruptProcessingException()

    before = run_ids()
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        sample(model, "flux", steps=10, cfg=CFG, callback=interrupt)
    (interrupted,) = records_since(before)
    assert interrupted["status"] == "interrupted"
    assert interrupted["summary"]["model_calls"] == 2 * 5, "steps 0-4 ran before the interrupt"

    again, again_record = sample_recorded(model, "flux", steps=10, cfg=CFG)
    assert torch.equal(again, reference)
    assert again_record["summary"]["computed_calls"] == reference_record["summary"]["computed_calls"]
    assert again_record["status"] == "ok"


def two_experts(high, low, steps: int = 16, switch: int = 8) -> torch.Tensor:
    """Wan 2.2 A14B as KSamplerAdvanced runs it: the high-noise expert for the first steps, returning with
    leftover noise, then the low-noise expert without adding noise."""
    latent = latent_for("wan22_high")
    noise = comfy.sample.prepare_noise(latent, 1)
    middle = sample(high, "wan22_high", steps=steps, cfg=CFG, noise=noise, latent=latent, start_step=0,
                    last_step=switch, force_full_denoise=False)
    return sample(low, "wan22_low", steps=steps, cfg=CFG, noise=torch.zeros_like(noise), latent=middle,
                  start_step=switch, last_step=10000, force_full_denoise=True)


def test_wan22_two_experts_each_get_their_own_run():
    high = tiny_models.build_model("wan22_high", seed=0)
    low = tiny_models.build_model("wan22_low", seed=0)
    stock = two_experts(high, low)
    assert torch.equal(two_experts(auto(high, 1.0), auto(low, 1.0)), stock)

    before = run_ids()
    out = two_experts(auto(high, 0.5), auto(low, 0.5))
    assert torch.isfinite(out).all()
    records = records_since(before)
    assert len(records) == 2, "one run per expert"
    for record in records:
        assert record["status"] == "ok" and record["total_steps"] == 8
        assert sorted(actions_by_step(record)) == list(range(8))
        assert record["summary"]["model_calls"] == 2 * 8
        assert record["summary"]["computed_calls"] == 2 * 4
    assert records[0]["run_id"] != records[1]["run_id"]


# ------------------------------------------------------------------------------------------------------------
# ComfyUI's EasyCache
# ------------------------------------------------------------------------------------------------------------


def easycache(model):
    """ComfyUI's EasyCache, set so that it skips steps of the tiny model (it logs how many)."""
    return EasyCacheNode.execute(model, reuse_threshold=1.0, start_percent=0.0, end_percent=1.0,
                                 verbose=False).result[0]


def test_comfyui_easycache_beside_and_on_top_of_ours():
    base = tiny_models.build_model("flux", seed=0)
    ours = auto(base, 0.5)
    reference = sample(ours, "flux", cfg=CFG)
    other = easycache(base)  # another model (sharing the weights) with EasyCache, sampled in between
    before = run_ids()
    assert torch.isfinite(sample(other, "flux", cfg=CFG)).all()
    assert records_since(before) == [], "EasyCache's run must not start ours"
    assert torch.equal(sample(ours, "flux", cfg=CFG), reference)

    stacked = easycache(ours)
    assert {"afterburner.cache", "easycache"} <= set(stacked.wrappers[WrappersMP.DIFFUSION_MODEL])
    out, record = sample_recorded(stacked, "flux", cfg=CFG)
    assert torch.isfinite(out).all()
    assert record["status"] == "ok" and record["summary"]["model_calls"] == 2 * STEPS
    assert record["summary"]["computed_calls"] < record["summary"]["model_calls"]
    assert not torch.allclose(out, reference), "EasyCache inside ours must have skipped something"
    assert torch.equal(sample(ours, "flux", cfg=CFG), reference), "stacking must not change ours"
