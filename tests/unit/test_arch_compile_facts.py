"""The compile facet of the family adapters (`CompileFacts`), next to the core every capability reads."""

from __future__ import annotations

import torch

from afterburner.py.arch import ADAPTERS, Adapter, CompileFacts, Stage, adapter_for


def test_block_lists_to_compile_are_the_stages_unless_named():
    stages = (Stage("double_block", "double_blocks"), Stage("single_block", "single_blocks"))
    assert CompileFacts().block_lists_to_compile(stages) == ("double_blocks", "single_blocks")
    assert CompileFacts(compiled_block_lists=("layers",)).block_lists_to_compile(stages) == ("layers",)
    assert CompileFacts().block_lists_to_compile(()) == ()


def test_the_core_keeps_what_the_cache_reads_and_the_facet_what_compile_reads():
    by_family = {adapter.family: adapter for adapter in ADAPTERS}
    lumina2 = by_family["lumina2"]
    assert lumina2.stages == () and lumina2.model_wrapper == "diffusion_model"
    assert lumina2.compile.block_lists_to_compile(lumina2.stages) == ("context_refiner", "noise_refiner", "layers")
    assert lumina2.compile.contiguous_inputs == ("freqs_cis",)
    assert by_family["flux"].compile.inner_forward == "forward_orig"
    assert by_family["qwen_image"].compile.uncompiled_methods == ("process_img",)
    assert by_family["wan"].compile.broadcast_inputs == by_family["wan"].compile.whole_broadcast_inputs == ("freqs",)
    assert by_family["sd3"].model_wrapper == "apply_model"
    assert by_family["unet"].compile == CompileFacts()  # compiled whole, torch's batch


def test_block_counts_and_lookup_by_ancestor():
    class Flux(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.double_blocks = torch.nn.ModuleList(torch.nn.Identity() for _ in range(2))
            self.single_blocks = torch.nn.ModuleList(torch.nn.Identity() for _ in range(3))

    class Kontext(Flux):
        pass

    adapter = adapter_for(Kontext())
    assert adapter.family == "flux" and adapter.block_counts(Kontext()) == (2, 3)
    assert adapter_for(torch.nn.Linear(1, 1)) == Adapter("unknown", (), model_wrapper="apply_model")
