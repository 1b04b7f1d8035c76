"""One declarative adapter per model family, matched by the ComfyUI class name of the diffusion model.

A stage is a list of blocks that ComfyUI's `patches_replace["dit"]` reaches with the key
`(stage, index)`; a block replacement gets a dict of streams (`img`, and `txt` for two-stream blocks)
and returns the streams it changed. Matching walks the class's MRO, so subclasses (Wan's VACE and camera
variants, Flux's Kontext) find their parent's adapter. Families without block replacement (UNets,
Lumina2) still get whole-model caching; Lumina2's blocks are still compiled one by one
(`CompileFacts.compiled_block_lists`).

An adapter is a core that every capability reads (where the blocks are, which wrapper reaches the model)
and one facet per capability that needs more of the family (`Adapter.compile`). A family's reasons for its
facts sit on its row in `ADAPTERS`, with the test that pins them.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass(frozen=True)
class Stage:
    """A run of blocks reached through `patches_replace["dit"][(key, i)]`."""

    key: str  # "double_block" or "single_block"
    attribute: str  # the nn.ModuleList on the diffusion model


@dataclasses.dataclass(frozen=True)
class CompileFacts:
    """What compiling a family needs to know beyond its blocks.

    inner_forward: the method the family's `_forward` calls once it has made the position ids (Flux's
        `forward_orig`), or None. A whole-model compile starts there: the ids come from torch.linspace over
        the latent's size, which would fix the resolution of a graph that made them.
    broadcast_inputs: the tensor inputs of the family's blocks, by parameter name, whose dim 0 is 1 at every
        batch size (Wan's rope table). Every other block input whose dim 0 is the batch is compiled for any
        batch, batch 1 included. None (families without blocks, or not checked yet) keeps torch's batch-1
        specialisation: one more compile when the batch grows.
    whole_broadcast_inputs: the same for the inputs of a whole-model compile's entry (`inner_forward`, else
        `_forward`), for its compiles after the first (which is static). None where an unbacked batch does not
        compile or does not help (the rows say why).
    contiguous_inputs: block inputs, by parameter name, that compiled blocks always get contiguous: inputs that
        reach the blocks of one class in two layouts within one call, which would otherwise compile the class
        once per layout before `Layouts` learns to copy them.
    compiled_block_lists: the block lists (nn.ModuleList attributes, in execution order) that a per-block compile
        compiles, where they are not the stages' (blocks that block replacement does not reach); empty: the
        stages' lists.
    uncompiled_methods: methods of the diffusion model that a whole-model compile runs uncompiled, for families
        that make their position ids inside the compiled function. In a graph, torch.linspace's step over the
        latent's size is a float that torch fixes by a guard, and from a graph's second recompile on torch's AOT
        cache hands back the first recompile's code, old step and all (pytorch/pytorch#197889): the output
        would be silently wrong at a new resolution.
    """

    inner_forward: str | None = None
    broadcast_inputs: tuple[str, ...] | None = None
    whole_broadcast_inputs: tuple[str, ...] | None = None
    contiguous_inputs: tuple[str, ...] = ()
    compiled_block_lists: tuple[str, ...] = ()
    uncompiled_methods: tuple[str, ...] = ()

    def block_lists_to_compile(self, stages: tuple[Stage, ...]) -> tuple[str, ...]:
        """The block lists a per-block compile compiles, given the family's `stages`."""
        return self.compiled_block_lists or tuple(stage.attribute for stage in stages)


@dataclasses.dataclass(frozen=True)
class Adapter:
    """How Afterburner reaches one model family.

    family: a short name for messages and telemetry.
    classes: ComfyUI diffusion-model class names this adapter serves.
    stages: block stages in execution order; empty when ComfyUI offers no block replacement.
    model_wrapper: "diffusion_model" when the family's forward runs WrappersMP.DIFFUSION_MODEL wrappers,
        else "apply_model" (every model has that one).
    compile: what compiling the family needs (`CompileFacts`).
    """

    family: str
    classes: tuple[str, ...]
    stages: tuple[Stage, ...] = ()
    model_wrapper: str = "diffusion_model"
    compile: CompileFacts = dataclasses.field(default_factory=CompileFacts)

    def block_counts(self, diffusion_model: torch.nn.Module) -> tuple[int, ...]:
        return tuple(len(getattr(diffusion_model, stage.attribute)) for stage in self.stages)


_DOUBLE_SINGLE = (Stage("double_block", "double_blocks"), Stage("single_block", "single_blocks"))

ADAPTERS: tuple[Adapter, ...] = (
    # Flux, Chroma, HunyuanVideo and Wan make their position ids in `_forward` (torch.linspace over the latent's
    # size): a whole-model compile starts behind them, at `forward_orig`
    # (test_compile_dynamic.py::test_whole_model_compile_of_a_dit_recompiles_once_then_never_for_any_size_or_batch).
    # Flux's position table reaches its blocks batch-major, so no block input stays batch 1
    # (test_compile_dynamic.py::test_first_block_compile_is_general_in_batch_and_size[flux]).
    Adapter("flux", ("Flux",), _DOUBLE_SINGLE,
            compile=CompileFacts(inner_forward="forward_orig", broadcast_inputs=(), whole_broadcast_inputs=())),
    Adapter("chroma", ("Chroma",), _DOUBLE_SINGLE,
            compile=CompileFacts(inner_forward="forward_orig", broadcast_inputs=(), whole_broadcast_inputs=())),
    # The whole model needs an unbacked batch: with torch's batch, inductor 2.13 fails to lower its padded
    # patch-embedding convolution at the first recompile (ValueRangeError) and the model then runs uncompiled
    # (test_compile_dynamic.py::test_whole_model_compile_of_hunyuan_video_compiles_for_a_new_batch).
    Adapter("hunyuan_video", ("HunyuanVideo",), _DOUBLE_SINGLE,
            compile=CompileFacts(inner_forward="forward_orig", broadcast_inputs=(), whole_broadcast_inputs=())),
    # Wan's rope table (`freqs`) is batch 1 at every batch size
    # (test_compile_dynamic.py::test_first_block_compile_is_general_in_batch_and_size[wan21]).
    Adapter("wan", ("WanModel",), (Stage("double_block", "blocks"),),
            compile=CompileFacts(inner_forward="forward_orig", broadcast_inputs=("freqs",),
                                 whole_broadcast_inputs=("freqs",))),
    # No whole_broadcast_inputs: with an unbacked batch LTXV's tiny latent recompiles once more (no test pins it).
    Adapter("ltxv", ("LTXVModel",), (Stage("double_block", "transformer_blocks"),),
            compile=CompileFacts(broadcast_inputs=())),
    # Qwen-Image makes its position ids inside `_forward` (`process_img`, torch.linspace): run uncompiled, or
    # pytorch/pytorch#197889 (open in torch 2.14) hands back a stale step from the second recompile on
    # (test_compile_dynamic.py::test_whole_model_compile_of_qwen_image_gets_the_position_ids_right_at_every_resolution).
    Adapter("qwen_image", ("QwenImageTransformer2DModel",), (Stage("double_block", "transformer_blocks"),),
            compile=CompileFacts(broadcast_inputs=(), whole_broadcast_inputs=(), uncompiled_methods=("process_img",))),
    # No whole_broadcast_inputs: with an unbacked batch, SD3's patch-embedding convolution gets an output layout on
    # CPU that torch's shape inference does not predict (no test pins it; `failures.layout_mismatch` is the net).
    Adapter("sd3", ("OpenAISignatureMMDITWrapper", "MMDiT"), (Stage("double_block", "joint_blocks"),),
            model_wrapper="apply_model", compile=CompileFacts(broadcast_inputs=())),
    # Block replacement does not reach Lumina2's (and Z-Image's) blocks, so their lists are named here. Its rope
    # table (`freqs_cis`) reaches them in two layouts in one call (sliced for the refiners), so it is always
    # passed contiguous (test_compile_dynamic.py::test_first_block_compile_is_general_in_batch_and_size[lumina2]
    # and [z_image], with test_compile_correctness.py's FIRST_CALL_COMPILES). No whole_broadcast_inputs: its
    # `_forward` graph-breaks and guards on the height either way (no test pins it).
    Adapter("lumina2", ("NextDiT",),
            compile=CompileFacts(broadcast_inputs=(), contiguous_inputs=("freqs_cis",),
                                 compiled_block_lists=("context_refiner", "noise_refiner", "layers"))),
    # No whole_broadcast_inputs: with an unbacked batch the UNets' convolutions fail shape inference and the graph
    # breaks into pieces (no test pins it).
    Adapter("unet", ("UNetModel",)),
)

UNKNOWN = Adapter("unknown", (), model_wrapper="apply_model")


def adapter_for(diffusion_model: torch.nn.Module) -> Adapter:
    """The adapter for this model's class or its nearest known ancestor; `UNKNOWN` otherwise."""
    for cls in type(diffusion_model).__mro__:
        for adapter in ADAPTERS:
            if cls.__name__ in adapter.classes:
                return adapter
    return UNKNOWN
