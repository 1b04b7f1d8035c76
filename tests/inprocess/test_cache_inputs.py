"""What the cache nodes do with inputs they cannot honour, with runs too short to cache, and whether Auto
hits the compute fraction it is asked for."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import (
    CFG,
    actions_by_step,
    auto,
    first_block,
    multi_block,
    periodic,
    sample,
    sample_recorded,
)

from afterburner.py.telemetry import get_bus
from devpack import tiny_models
from devpack.tiny_models import FAMILIES

# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
@pytest.mark.parametrize("stage", ["double", "single"])
def test_skip_lists_on_a_unet_are_refused_with_the_reason(family, stage):
    model = tiny_models.build_model(family, seed=0)
    with pytest.raises(ValueError, match=r"no block replacement.*clear the skip lists"):
        multi_block(model, 0.1, **{f"skip_{stage}": "1"})


@pytest.mark.parametrize("family", ["sd15", "sdxl", "lumina2"])
def test_first_block_cache_on_a_model_without_blocks_falls_back_to_the_whole_model(family):
    model = tiny_models.build_model(family, seed=0)
    notices = len(get_bus().history.notices)
    cached = first_block(model, 0.1)
    out, record = sample_recorded(cached, family, steps=12, cfg=CFG)
    assert torch.isfinite(out).all()
    assert record["method"] == "cache:first_block" and record["status"] == "ok"
    assert record["summary"]["model_calls"] == 2 * 12
    assert record["summary"]["computed_calls"] < record["summary"]["model_calls"], "the fallback must cache"
    assert any(n["severity"] == "warning" and "no block replacement" in n["message"] and "whole model" in n["message"]
               for n in list(get_bus().history.notices)[notices:]), "the fallback must be said out loud"


@pytest.mark.parametrize(("family", "blocks"), [("flux", 2), ("wan21", 3), ("sd3", 3)])
def test_first_blocks_beyond_the_first_stage_is_refused(family, blocks):
    model = tiny_models.build_model(family, seed=0)
    with pytest.raises(ValueError, match=f"first_blocks must be at most {blocks}, got {blocks + 1}"):
        multi_block(model, 0.1, first_blocks=blocks + 1)


def test_bad_skip_lists_are_refused():
    model = tiny_models.build_model("flux", seed=0)
    with pytest.raises(ValueError, match=r"skip_double_blocks must be block numbers.*'3,x'"):
        multi_block(model, 0.1, skip_double="3,x")
    with pytest.raises(ValueError, match="cannot skip double_block 7"):
        multi_block(model, 0.1, skip_double="7")
    with pytest.raises(ValueError, match="first 1 blocks"):
        multi_block(model, 0.1, skip_double="0")
    with pytest.raises(ValueError, match="no single_blocks"):
        multi_block(tiny_models.build_model("wan21", seed=0), 0.1, skip_single="1")


def test_skip_list_removes_the_blocks():
    model = tiny_models.build_model("flux", seed=0)
    out = sample(multi_block(model, 0.0, skip_single="1"), "flux", cfg=CFG)
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, sample(model, "flux", cfg=CFG), atol=1e-4)


@pytest.mark.parametrize("node", ["periodic", "auto", "first_block"])
def test_runs_shorter_than_min_steps_compute_every_step(node):
    model = tiny_models.build_model("flux", seed=0)
    cached = {"periodic": lambda: periodic(model, 3, 0), "auto": lambda: auto(model, 0.3),
              "first_block": lambda: first_block(model, 1.0)}[node]()
    steps = 4  # the nodes' min_steps is 5
    out, record = sample_recorded(cached, "flux", steps=steps, cfg=CFG)
    assert torch.equal(out, sample(model, "flux", steps=steps, cfg=CFG))
    assert record["summary"]["computed_calls"] == record["summary"]["model_calls"] == 2 * steps
    assert actions_by_step(record) == {step: {"computed"} for step in range(steps)}


# ------------------------------------------------------------------------------------------------------------
# Auto hits its target
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("speed_factor", [0.5, 0.3])
def test_auto_computes_the_requested_fraction(family, speed_factor):
    steps = 20
    _, record = sample_recorded(auto(tiny_models.build_model(family, seed=0), speed_factor), family, steps=steps,
                                cfg=CFG)
    summary = record["summary"]
    fraction = summary["computed_calls"] / summary["model_calls"]
    rounding = max(0.0, max(2, math.ceil(speed_factor * steps)) / steps - speed_factor)  # at least 2 computed
    assert abs(fraction - speed_factor) <= 0.05 + rounding, f"computed {fraction:.2f}, asked {speed_factor}"
    assert summary["model_calls"] == 2 * steps
