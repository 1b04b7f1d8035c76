"""LoRA under compile: a weight patch (ComfyUI's `add_patches`, what LoRA loaders call) applied after or before
the compile node changes the compiled output exactly as it changes eager output; sampling without it gives
the original back; and neither applying, removing nor swapping a LoRA compiles anything after the first call.
"""

from __future__ import annotations

import pytest
import torch
from test_compile_correctness import (
    TOL,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample,
)


def with_weight_patch(model, seed: int = 0):
    """A clone carrying a LoRA-style 'diff' patch (ComfyUI 0.3.75: `{key: (delta,)}`) on every block's
    attention projection (a real LoRA patches every block)."""
    patches = model.get_key_patches("diffusion_model.")
    keys = [k for k in sorted(patches) if k.endswith(("img_attn.proj.weight", "linear2.weight", "self_attn.o.weight"))]
    assert keys
    gen = torch.Generator().manual_seed(seed)
    patched = model.clone()
    with torch.inference_mode():  # as a LoRA loader node runs
        for key in keys:
            weight = patches[key][0][0]
            delta = torch.randn(weight.shape, generator=gen) * weight.std()
            assert patched.add_patches({key: (delta,)}, 1.0) == [key]
    return patched


@pytest.mark.parametrize("family", ["flux", "wan21"])
def test_weight_patch_under_compile_matches_eager_and_compiles_nothing_new(family):
    base = build(family)
    flags = {name: p.requires_grad for name, p in base.model.diffusion_model.named_parameters()}
    assert all(flags.values()), "built weights require grad, as ComfyUI's do"
    eager_base = sample(base, family)
    fast = compiled(base)  # compiled before any LoRA has run
    torch.testing.assert_close(sample(fast, family), eager_base, **TOL)
    out_base = sample(fast, family)  # after the first call (which settles Wan's block input layouts)

    eager_lora = sample(with_weight_patch(base), family)
    assert not torch.allclose(eager_lora, eager_base, atol=1e-3), "the patch must change the output"
    flags = {name: p.requires_grad for name, p in base.model.diffusion_model.named_parameters()}
    # Patched weights are new Parameters that do not require grad (ComfyUI's set_attr_param), where the built
    # ones do; the compiled clone turns the flag off while it is loaded, so a LoRA is no new weight layout.
    with torch.compiler.set_stance("fail_on_recompile"):
        lora_after_compile = with_weight_patch(fast)  # a LoRA loader after the compile node
        torch.testing.assert_close(sample(lora_after_compile, family), eager_lora, **TOL)
        assert torch.equal(sample(fast, family), out_base), "sampling without the patch must restore the original"
        lora_before_compile = compiled(with_weight_patch(base))  # a LoRA loader before the compile node
        torch.testing.assert_close(sample(lora_before_compile, family), eager_lora, **TOL)
        torch.testing.assert_close(sample(lora_after_compile, family), eager_lora, **TOL)
        assert torch.equal(sample(fast, family), out_base)
    assert torch.equal(sample(base, family), eager_base), "the patch leaked into the base model"
    assert {name: p.requires_grad for name, p in base.model.diffusion_model.named_parameters()} == flags
