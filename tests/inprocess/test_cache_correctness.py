"""The step-caching engine on the real ComfyUI: bypass is exact on every family, the input model is never
modified, and weight patches (LoRA) reach the cached model."""

from __future__ import annotations

import pytest
import torch
from helpers import (
    CFG,
    DISABLED,
    STEPS,
    auto,
    first_block,
    multi_block,
    options_snapshot,
    periodic,
    sample,
    sample_recorded,
    with_one_weight_patch,
)

from devpack import tiny_models
from devpack.tiny_models import FAMILIES

# ------------------------------------------------------------------------------------------------------------
# 1. bypass is exact
# ------------------------------------------------------------------------------------------------------------


BYPASS_CASES = [
    pytest.param(family, name, id=f"{family}-{name}")
    for family in FAMILIES for name in DISABLED
]


_STOCK: dict[tuple[str, float], torch.Tensor] = {}


def stock(family: str, cfg: float) -> torch.Tensor:
    """Stock ComfyUI's output for the family's seed-0 model (memoised: the models are deterministic)."""
    if (family, cfg) not in _STOCK:
        _STOCK[(family, cfg)] = sample(tiny_models.build_model(family, seed=0), family, cfg=cfg)
    return _STOCK[(family, cfg)]


@pytest.mark.parametrize(("family", "node"), BYPASS_CASES)
def test_disabled_node_is_bit_identical_to_stock(family, node):
    model = tiny_models.build_model(family, seed=0)
    for cfg in (1.0, CFG):
        out, record = sample_recorded(DISABLED[node](model), family, cfg=cfg)
        assert torch.equal(out, stock(family, cfg)), f"{family} {node} cfg {cfg}: differs from stock ComfyUI"
        summary = record["summary"]
        branches = 1 if cfg == 1.0 else 2
        assert summary["model_calls"] == branches * STEPS, f"{node}: the engine did not see every call"
        assert summary["computed_calls"] == summary["model_calls"], f"{node}: a step was not computed"
        assert record["status"] == "ok"


@pytest.mark.parametrize("family", ["flux", "sd15", "wan21", "sd3"])
def test_applying_nodes_leaves_the_input_model_untouched(family):
    model = tiny_models.build_model(family, seed=0)
    before = sample(model, family, cfg=CFG)
    snapshot = options_snapshot(model)
    blocks = family not in ("sd15",)  # UNets offer no block replacement: skip lists are refused there
    patched = [periodic(model), auto(model, 0.5, mode="taylor"), first_block(model, 0.1, mode="adams_bashforth"),
               multi_block(model, 0.1, skip_double="1" if blocks else "")]
    for node_model in patched:
        assert node_model is not model
        assert options_snapshot(model) == snapshot, "a cache node modified its input model"
        sample(node_model, family, cfg=CFG)
        assert options_snapshot(model) == snapshot, "sampling the cached model modified the input model"
    assert torch.equal(sample(model, family, cfg=CFG), before), "the input model samples differently afterwards"


# ------------------------------------------------------------------------------------------------------------
# LoRA-style weight patches applied before the node
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["flux", "sd15", "wan21"])
def test_weight_patch_before_the_node_reaches_the_cached_model(family):
    base = tiny_models.build_model(family, seed=0)
    base_out = sample(base, family, cfg=CFG)
    lora = with_one_weight_patch(base)
    lora_out = sample(lora, family, cfg=CFG)
    assert not torch.allclose(lora_out, base_out, atol=1e-4), "the weight patch must change the output"
    for name, apply in DISABLED.items():
        assert torch.equal(sample(apply(lora), family, cfg=CFG), lora_out), f"{name}: lost the weight patch"
    cached_lora = sample(auto(lora, 0.5), family, cfg=CFG)
    cached_base = sample(auto(base, 0.5), family, cfg=CFG)
    assert not torch.allclose(cached_lora, cached_base, atol=1e-4), "caching must run the patched weights"
    assert torch.equal(sample(base, family, cfg=CFG), base_out), "the patch leaked into the base model"
