"""LoRA under compile: a weight patch (ComfyUI's `add_patches`, what LoRA loaders call) applied after or before
the compile node changes the compiled output exactly as it changes eager output; sampling without it gives
the original back; and neither applying, removing nor swapping a LoRA compiles anything after the first call.
"""

from __future__ import annotations

import pytest
import torch
from helpers import (
    TOL,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample_short,
    with_block_weight_patches,
)


@pytest.mark.parametrize("family", ["flux", "wan21"])
def test_weight_patch_under_compile_matches_eager_and_compiles_nothing_new(family):
    base = build(family)
    flags = {name: p.requires_grad for name, p in base.model.diffusion_model.named_parameters()}
    # ComfyUI 0.3.75 builds weights that require grad; newer ComfyUI freezes them in BaseModel (requires_grad_(False))
    assert len(set(flags.values())) == 1, "built weights all require grad, or none do, as ComfyUI builds them"
    eager_base = sample_short(base, family)
    fast = compiled(base)  # compiled before any LoRA has run
    torch.testing.assert_close(sample_short(fast, family), eager_base, **TOL)
    out_base = sample_short(fast, family)  # after the first call (which settles Wan's block input layouts)

    eager_lora = sample_short(with_block_weight_patches(base), family)
    assert not torch.allclose(eager_lora, eager_base, atol=1e-3), "the patch must change the output"
    flags = {name: p.requires_grad for name, p in base.model.diffusion_model.named_parameters()}
    # Patched weights are new Parameters that do not require grad (ComfyUI's set_attr_param), where the built
    # ones do; the compiled clone turns the flag off while it is loaded, so a LoRA is no new weight layout.
    with torch.compiler.set_stance("fail_on_recompile"):
        lora_after_compile = with_block_weight_patches(fast)  # a LoRA loader after the compile node
        torch.testing.assert_close(sample_short(lora_after_compile, family), eager_lora, **TOL)
        assert torch.equal(sample_short(fast, family), out_base), "sampling without the patch must restore the original"
        lora_before_compile = compiled(with_block_weight_patches(base))  # a LoRA loader before the compile node
        torch.testing.assert_close(sample_short(lora_before_compile, family), eager_lora, **TOL)
        torch.testing.assert_close(sample_short(lora_after_compile, family), eager_lora, **TOL)
        assert torch.equal(sample_short(fast, family), out_base)
    assert torch.equal(sample_short(base, family), eager_base), "the patch leaked into the base model"
    assert {name: p.requires_grad for name, p in base.model.diffusion_model.named_parameters()} == flags
