"""Test-only nodes: a tiny real-class model, conditioning and an empty latent for any family in tiny_models.

They let demo and server-test workflows run MODEL -> KSampler end to end on CPU without weights or text
encoders. Not part of the pack users install.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from comfy_api.latest import io

from . import tiny_models

CATEGORY = "afterburner/dev"
_FAMILY_TOOLTIP = "Model family (tiny instance of the real ComfyUI class): " + ", ".join(tiny_models.FAMILIES)
_MAX_SEED = 2**31 - 1

# (family, seed) -> ModelPatcher; models are a few MB, keep the recent ones so repeated prompts are fast.
_MODEL_CACHE: OrderedDict[tuple[str, int], object] = OrderedDict()
_MODEL_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def cached_model(family: str, seed: int):
    """The tiny model of (family, seed), built once per process (the returned patcher is shared)."""
    key = (family, int(seed))
    with _CACHE_LOCK:
        patcher = _MODEL_CACHE.get(key)
        if patcher is None:
            patcher = tiny_models.build_model(family, seed=int(seed))
            _MODEL_CACHE[key] = patcher
            while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
                _MODEL_CACHE.popitem(last=False)
        else:
            _MODEL_CACHE.move_to_end(key)
        return patcher


def _family_input(default: str = "flux") -> io.Combo.Input:
    return io.Combo.Input("family", options=list(tiny_models.FAMILIES), default=default, tooltip=_FAMILY_TOOLTIP)


class AfterburnerDevTinyModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerDevTinyModel",
            display_name="Afterburner Dev: Tiny Model",
            category=CATEGORY,
            description="A tiny, randomly initialised instance of a real ComfyUI model class (dev and tests only).",
            inputs=[
                _family_input(),
                io.Int.Input("seed", default=0, min=0, max=_MAX_SEED,
                             tooltip="Seed of the weights: the same seed always gives the same model."),
            ],
            outputs=[io.Model.Output(tooltip="The tiny model (shared per family and seed; clone before patching).")],
        )

    @classmethod
    def execute(cls, family: str, seed: int) -> io.NodeOutput:
        return io.NodeOutput(cached_model(family, seed).clone())


class AfterburnerDevTinyConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerDevTinyConditioning",
            display_name="Afterburner Dev: Tiny Conditioning",
            category=CATEGORY,
            description="Random conditioning shaped for a tiny model family, in place of a text encoder. "
                        "Use a second node with another seed as the negative.",
            inputs=[
                _family_input(),
                io.Int.Input("seed", default=0, min=0, max=_MAX_SEED,
                             tooltip="Seed of the random 'prompt': different seeds give different conditioning."),
                io.Int.Input("batch", default=1, min=1, max=64, tooltip="Batch size of the conditioning tensors."),
            ],
            outputs=[io.Conditioning.Output(tooltip="CONDITIONING, with pooled output and guidance where used.")],
        )

    @classmethod
    def execute(cls, family: str, seed: int, batch: int) -> io.NodeOutput:
        return io.NodeOutput(tiny_models.conditioning(family, batch=batch, seed=seed))


class AfterburnerDevTinyLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerDevTinyLatent",
            display_name="Afterburner Dev: Tiny Latent",
            category=CATEGORY,
            description="An empty latent in the family's layout (5-D with temporal compression for video families).",
            inputs=[
                _family_input(),
                io.Int.Input("width", default=64, min=16, max=2048, step=16, tooltip="Image width in pixels."),
                io.Int.Input("height", default=64, min=16, max=2048, step=16, tooltip="Image height in pixels."),
                io.Int.Input("frames", default=1, min=1, max=257, step=1,
                             tooltip="Video frames (video families only). Latent frames: Wan and HunyuanVideo "
                                     "(frames-1)//4+1, LTXV (frames-1)//8+1."),
                io.Int.Input("batch", default=1, min=1, max=64, tooltip="Number of latents in the batch."),
            ],
            outputs=[io.Latent.Output(tooltip="LATENT of zeros.")],
        )

    @classmethod
    def execute(cls, family: str, width: int, height: int, frames: int, batch: int) -> io.NodeOutput:
        latent = tiny_models.empty_latent(family, batch=batch, width=width, height=height, frames=frames)
        return io.NodeOutput({"samples": latent})


NODES = (AfterburnerDevTinyModel, AfterburnerDevTinyConditioning, AfterburnerDevTinyLatent)
NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in NODES}
NODE_DISPLAY_NAME_MAPPINGS = {cls.__name__: cls.GET_SCHEMA().display_name for cls in NODES}
