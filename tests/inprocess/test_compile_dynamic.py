"""No needless recompiles. With dynamic "auto" a block's first compile is already general in batch, resolution
and prompt length (its inputs' sizes are marked dynamic up front, the batch as one unbacked size, so batch 1
is not torch's special case), so further sizes, batches, step counts and seeds run under
`torch.compiler.set_stance("fail_on_recompile")`.
"""

from __future__ import annotations

import collections

import pytest
import torch
from helpers import (
    FIRST_CALL_COMPILES,
    TOL,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample_short,
)

from devpack import tiny_models


def _per_class(events: Events) -> collections.Counter:
    return collections.Counter(e["target"].split(" ")[1] for e in events.compiles)


# Z-Image is ComfyUI's Lumina2 class with Z-Image's modulation, time scale and token padding (as model detection
# sets them), here at the tiny Lumina2 size widened to 256, the narrowest width its modulation takes.
Z_IMAGE = ("ZImage", {**tiny_models.family_spec("lumina2").unet_config, "z_image_modulation": True,
                      "time_scale": 1000.0, "pad_tokens_multiple": 32, "dim": 256, "axes_dims": [32, 48, 48]})


@pytest.mark.parametrize(("family", "variant"), [("flux", None), ("wan21", None), ("lumina2", None),
                                                 ("lumina2", Z_IMAGE)], ids=["flux", "wan21", "lumina2", "z_image"])
def test_first_block_compile_is_general_in_batch_and_size(family, variant):
    """Wan's rope table stays batch 1 at every batch (`CompileFacts.broadcast_inputs`); Flux's position table does
    not. Lumina2's and Z-Image's blocks (refiners and layers) are compiled though block replacement does not
    reach them (`CompileFacts.compiled_block_lists`). Every output matches eager."""
    torch._dynamo.reset()  # a clean slate: earlier tests may already have made sizes dynamic
    model = compiled(build(family, variant=variant))
    events = Events()
    sample_short(model, family, steps=2, size=64, batch=1, tokens=8)
    assert all(n <= FIRST_CALL_COMPILES[family] for n in _per_class(events).values()), events.compiles

    eager = build(family, variant=variant)
    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):
        for size in (64, 96, 112):
            for batch in (2, 1, 3):
                run = dict(steps=2 + batch % 2, seed=size + batch, size=size, batch=batch,
                           tokens=8 if size != 96 else 16)
                torch.testing.assert_close(sample_short(model, family, **run), sample_short(eager, family, **run),
                                           **TOL)
    assert events.compiles == []


def test_whole_model_compile_does_not_recompile_for_another_step_count():
    """The schedule (`sample_sigmas`, one entry per step) reaches a whole-model compile: its length is not a
    guard, nor are sigma values."""
    model = compiled(build("sdxl"), scope="whole model")
    sample_short(model, "sdxl", steps=3, cfg=4.0)
    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):
        for steps in (2, 5, 9):
            sample_short(model, "sdxl", steps=steps, cfg=4.0, seed=steps)
    assert events.compiles == []


def test_whole_model_compile_of_a_dit_recompiles_once_then_never_for_any_size_or_batch():
    """A DiT's whole-model compile starts behind its position ids (torch.linspace over the latent's size) and
    static; its first recompile, at a new resolution, is general in every size, the batch included
    (`CompileFacts.whole_broadcast_inputs`), so no later resolution, prompt length or batch recompiles. The compiled
    method is the model's only while a call runs."""
    torch._dynamo.reset()
    model = compiled(build("flux"), scope="whole model")
    eager = build("flux")
    sample_short(model, "flux", size=64)
    events = Events()
    torch.testing.assert_close(sample_short(model, "flux", size=80), sample_short(eager, "flux", size=80), **TOL)
    assert len(events.compiles) <= 1 and all(e["target"] == "diffusion_model Flux" for e in events.compiles)
    assert "forward_orig" not in vars(model.get_model_object("diffusion_model"))
    events = Events()
    with torch.compiler.set_stance("fail_on_recompile"):
        for size, tokens, batch in ((96, 12, 2), (112, 8, 1), (48, 16, 3)):
            run = dict(seed=size, size=size, tokens=tokens, batch=batch)
            torch.testing.assert_close(sample_short(model, "flux", **run), sample_short(eager, "flux", **run), **TOL)
    assert events.compiles == []


def test_whole_model_compile_of_hunyuan_video_compiles_for_a_new_batch():
    """With torch's own batch, inductor 2.13 failed to lower HunyuanVideo's padded patch-embedding convolution at
    the whole model's first recompile (ValueRangeError), and the model ran uncompiled from then on. Its batch is
    one unbacked size (`CompileFacts.whole_broadcast_inputs`), which lowers."""
    torch._dynamo.reset()
    model = compiled(build("hunyuan_video"), scope="whole model")
    eager = build("hunyuan_video")
    sample_short(model, "hunyuan_video", steps=1)
    events = Events()
    run = dict(steps=1, seed=2, batch=2)
    torch.testing.assert_close(sample_short(model, "hunyuan_video", **run), sample_short(eager, "hunyuan_video", **run),
                               **TOL)
    assert len(events.compiles) == 1 and "compile failed" not in events.compiles[0]["reason"], events.compiles
    assert not [n for n in events.notices if "compile failed" in n["message"]], events.notices


def test_whole_model_compile_of_qwen_image_gets_the_position_ids_right_at_every_resolution():
    """Qwen-Image makes its position ids inside the compiled `_forward`, with torch.linspace over the latent's
    size. In a graph, linspace's step is a float that torch fixes by a guard, and from the second recompile on
    torch's AOT cache hands back the first recompile's code, old step and all (pytorch/pytorch#197889): the
    output would be silently wrong. The adapter runs `process_img` uncompiled (`CompileFacts.uncompiled_methods`)."""
    torch._dynamo.reset()
    model = compiled(build("qwen_image"), scope="whole model")
    eager = build("qwen_image")
    for size in (64, 80, 96, 80):
        run = dict(steps=2, seed=size, size=size)
        torch.testing.assert_close(sample_short(model, "qwen_image", **run), sample_short(eager, "qwen_image", **run),
                                   **TOL)
    assert "process_img" not in vars(model.get_model_object("diffusion_model"))


def test_block_inputs_are_found_by_name_and_inside_modulations():
    """The batch marking sees a block's inputs by parameter name (Wan passes `x` by position and the rope
    table by keyword) and the tensors inside Chroma's modulation dataclasses."""
    from comfy.ldm.flux.layers import ModulationOut

    from afterburner.py.compile.shapes import named_inputs, tensors_in

    def forward(x, e, freqs=None, transformer_options={}, **kwargs):  # noqa: B006 - ComfyUI's signature style
        pass

    x, e, freqs, extra = (torch.zeros(1, n) for n in (3, 4, 5, 6))
    named = named_inputs(forward, (x, e), {"freqs": freqs, "context": extra})
    assert {name: id(value) for name, value in named.items()} == {"x": id(x), "e": id(e), "freqs": id(freqs),
                                                                "context": id(extra)}
    mods = (ModulationOut(x, e, freqs), [extra])
    assert [id(t) for t in tensors_in(mods)] == [id(x), id(e), id(freqs), id(extra)]
