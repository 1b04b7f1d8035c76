"""Tiny, seeded instances of real ComfyUI model classes, for tests, demos and benchmarks.

Each family is the real ComfyUI class (`comfy.supported_models.X(unet_config).get_model(...)`, so the
real `comfy.model_base.*` wrapper and `comfy.ldm.*` network) built from a tiny `unet_config` and wrapped
in a real `ModelPatcher`. ComfyUI creates its layers with `torch.empty`, so every parameter (and the few
`torch.empty` buffers) is initialised here from a seeded generator: norm weights 1, biases 0, matrices
N(0, 1/fan_in). Outputs are finite, deterministic per seed and depend on every block.

ComfyUI must be importable before this module is imported (`devpack.comfy_boot.boot_comfyui()`, or
ComfyUI itself when it loads the dev pack).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import math
from dataclasses import dataclass, field

import comfy.model_patcher
import comfy.supported_models as sm
import torch


@dataclass(frozen=True)
class Family:
    """One row of the table: which ComfyUI class, its tiny config, and how its inputs look."""

    model_class: str  # attribute of comfy.supported_models
    unet_config: dict
    context_dim: int  # width of the CONDITIONING tensor
    pooled_dim: int | None = None  # width of `pooled_output`, None where the family has none
    guidance: float | None = None  # `guidance` entry of the conditioning, where the family embeds it
    spatial: int = 8  # pixels per latent cell
    temporal: int | None = None  # frames per latent frame for video families (T = (frames - 1) // temporal + 1)
    video_dims: bool = False  # latent is 5-D [B, C, T, H, W] even for images (latent_format.latent_dimensions == 3)
    extra_cond: dict = field(default_factory=dict)  # constant extra keys of the conditioning dict
    attention_mask: bool = False  # the text encoder hands an `attention_mask` (LTXV's forward requires one)


_UNET_COMMON = {
    "use_checkpoint": False,
    "image_size": 32,
    "use_spatial_transformer": True,
    "legacy": False,
    "in_channels": 4,
    "out_channels": 4,
    "use_temporal_resblock": False,
    "use_temporal_attention": False,
}

# SDXL's `y` is pooled text embedding + six 256-wide size embeddings (model_base.SDXL.encode_adm).
_SDXL_POOLED = 32

_FLUX_LIKE = {
    "context_in_dim": 32,
    "hidden_size": 64,
    "mlp_ratio": 4.0,
    "num_heads": 2,
    "depth": 2,
    "depth_single_blocks": 2,
    "axes_dim": [8, 12, 12],  # sums to the head dim 32
    "theta": 10000,
    "qkv_bias": True,
}

_WAN = {
    "image_model": "wan2.1",
    "model_type": "t2v",
    "patch_size": (1, 2, 2),
    "dim": 64,
    "ffn_dim": 128,
    "freq_dim": 256,
    "text_dim": 32,
    "num_heads": 2,
    "num_layers": 3,
    "in_dim": 16,
    "out_dim": 16,
    "window_size": (-1, -1),
    "qk_norm": True,
    "cross_attn_norm": True,
    "eps": 1e-6,
}

_TABLE: dict[str, Family] = {
    "flux": Family(
        "Flux",
        {"image_model": "flux", "in_channels": 16, "out_channels": 16, "vec_in_dim": 32, "patch_size": 2,
         "guidance_embed": True, **_FLUX_LIKE},
        context_dim=32, pooled_dim=32, guidance=3.5,
    ),
    "chroma": Family(
        "Chroma",
        # Chroma patchifies itself: in/out channels are 16 latent channels x 2 x 2. Its approximator maps
        # [timestep(16) | guidance(16) | modulation index(32)] = 64 to hidden_size vectors.
        {"image_model": "chroma", "in_channels": 64, "out_channels": 64, "patch_size": 2,
         "in_dim": 64, "out_dim": 64, "hidden_dim": 64, "n_layers": 1, **_FLUX_LIKE},
        context_dim=32, pooled_dim=None, extra_cond={"pooled_output": None},  # T5-only: pooled is None
    ),
    "sd15": Family(
        "SD15",
        {**_UNET_COMMON, "model_channels": 32, "channel_mult": [1, 2], "num_res_blocks": [1, 1],
         "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1], "transformer_depth_middle": 1,
         "use_linear_in_transformer": False, "context_dim": 768, "adm_in_channels": None,
         "num_heads": 2, "num_head_channels": -1},
        context_dim=768, pooled_dim=768,
    ),
    "sdxl": Family(
        "SDXL",
        {**_UNET_COMMON, "model_channels": 32, "channel_mult": [1, 2], "num_res_blocks": [1, 1],
         "transformer_depth": [0, 1], "transformer_depth_output": [0, 0, 1, 1], "transformer_depth_middle": 1,
         "use_linear_in_transformer": True, "context_dim": 64, "num_classes": "sequential",
         "adm_in_channels": _SDXL_POOLED + 6 * 256, "num_heads": -1, "num_head_channels": 32},
        context_dim=64, pooled_dim=_SDXL_POOLED,
        extra_cond={"width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0,
                    "target_width": 1024, "target_height": 1024},
    ),
    "sd3": Family(
        "SD3",
        # MMDiT fixes hidden = 64 * depth and blocks = depth; depth 3 is also what detection reads back
        # from the demo file (build_demo_models.py writes this same config).
        {"in_channels": 16, "out_channels": 16, "patch_size": 2, "depth": 3, "input_size": None,
         "adm_in_channels": 64, "pos_embed_max_size": 32, "num_patches": 32 * 32,
         "context_embedder_config": {"target": "torch.nn.Linear", "params": {"in_features": 64, "out_features": 192}},
         "pos_embed_scaling_factor": None, "x_block_self_attn_layers": []},
        context_dim=64, pooled_dim=64,
    ),
    "ltxv": Family(
        "LTXV",
        {"image_model": "ltxv", "in_channels": 128, "cross_attention_dim": 64, "attention_head_dim": 32,
         "num_attention_heads": 2, "caption_channels": 32, "num_layers": 3},
        context_dim=32, spatial=32, temporal=8, video_dims=True, attention_mask=True,
    ),
    "hunyuan_video": Family(
        "HunyuanVideo",
        {"image_model": "hunyuan_video", "in_channels": 16, "out_channels": 16, "vec_in_dim": 32,
         "context_in_dim": 32, "hidden_size": 64, "mlp_ratio": 4.0, "num_heads": 2, "depth": 2,
         "depth_single_blocks": 2, "axes_dim": [8, 12, 12], "theta": 256, "patch_size": [1, 2, 2],
         "qkv_bias": True, "guidance_embed": True, "byt5": False, "meanflow": False,
         "use_cond_type_embedding": False, "vision_in_dim": None},
        context_dim=32, pooled_dim=32, guidance=6.0, temporal=4, video_dims=True,
    ),
    "wan21": Family("WAN21_T2V", dict(_WAN), context_dim=32, temporal=4, video_dims=True),
    # Wan 2.2 A14B: two 14B experts (high noise, low noise) with Wan 2.1's layout (16-channel latent,
    # out_dim 16), so detection makes each a WAN21_T2V; WAN22_T2V is the 5B model (48 channels).
    "wan22_high": Family("WAN21_T2V", dict(_WAN), context_dim=32, temporal=4, video_dims=True),
    "wan22_low": Family("WAN21_T2V", dict(_WAN), context_dim=32, temporal=4, video_dims=True),
    "qwen_image": Family(
        "QwenImage",
        # Qwen-Image patchifies itself: img_in takes 16 latent channels x 2 x 2.
        {"image_model": "qwen_image", "patch_size": 2, "in_channels": 64, "out_channels": 16, "num_layers": 3,
         "attention_head_dim": 32, "num_attention_heads": 2, "joint_attention_dim": 32,
         "axes_dims_rope": (8, 12, 12)},
        context_dim=32, video_dims=True,
    ),
    "lumina2": Family(
        "Lumina2",
        {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 64, "n_layers": 3,
         "n_refiner_layers": 1, "n_heads": 2, "n_kv_heads": 2, "multiple_of": 16, "ffn_dim_multiplier": 4.0,
         "norm_eps": 1e-5, "qk_norm": True, "cap_feat_dim": 32, "axes_dims": [8, 12, 12],
         "axes_lens": [300, 512, 512], "rope_theta": 10000.0},
        context_dim=32,
    ),
}

FAMILIES: tuple[str, ...] = (
    "flux", "chroma", "sd15", "sdxl", "sd3", "ltxv", "hunyuan_video",
    "wan21", "wan22_high", "wan22_low", "qwen_image", "lumina2",
)
VIDEO_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if _TABLE[f].temporal is not None)

# Weight streams per family, so that families sharing an architecture (the two Wan 2.2 experts) differ
# at the same user seed.
_SEED_SALT = {name: i * 1_000_003 for i, name in enumerate(FAMILIES)}

_NORM_WEIGHT_NAMES = ("weight", "scale")

# Parameters that networks gained after ComfyUI 0.3.75 without a default, by `image_model`: (network class, values
# ComfyUI's own detection gives a checkpoint laid out like ours). Passed only where this ComfyUI's class takes them,
# so the same table builds on 0.3.75 and on newer trees; a config that sets one itself keeps its value.
_NEWER_REQUIRED = {
    "flux": ("comfy.ldm.flux.model.Flux", {"txt_ids_dims": []}),
    "chroma": ("comfy.ldm.chroma.model.Chroma", {"txt_ids_dims": [], "vec_in_dim": None}),
    "hunyuan_video": ("comfy.ldm.hunyuan_video.model.HunyuanVideo", {"meanflow_sum": False}),
}


def family_spec(family: str) -> Family:
    """The table row of `family`; ValueError naming the valid families otherwise."""
    try:
        return _TABLE[family]
    except (KeyError, TypeError):
        raise ValueError(f"unknown tiny model family {family!r}; valid: {', '.join(FAMILIES)}") from None


def model_config(family: str):
    """The ComfyUI `supported_models` config object for `family` (float32)."""
    spec = family_spec(family)
    return config_from(spec.model_class, spec.unet_config)


def network_accepts(network: type, name: str) -> bool:
    """Whether `network(**unet_config)` takes a keyword `name`: in its signature or, where it forwards **kwargs to
    a `<Network>Params` dataclass of its module (Flux, Chroma, HunyuanVideo), among that dataclass's fields."""
    parameters = inspect.signature(network.__init__).parameters
    if name in parameters:
        return True
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return False
    params = getattr(importlib.import_module(network.__module__), f"{network.__name__}Params", None)
    return dataclasses.is_dataclass(params) and name in {f.name for f in dataclasses.fields(params)}


def with_newer_required(unet_config: dict) -> dict:
    """`unet_config` plus the parameters this ComfyUI's network requires that 0.3.75's did not have."""
    network_path, values = _NEWER_REQUIRED.get(unet_config.get("image_model"), ("", {}))
    if not values:
        return unet_config
    module_name, class_name = network_path.rsplit(".", 1)
    network = getattr(importlib.import_module(module_name), class_name)
    extra = {k: v for k, v in values.items() if k not in unet_config and network_accepts(network, k)}
    return {**unet_config, **copy.deepcopy(extra)}


def config_from(model_class: str, unet_config: dict, dtype: torch.dtype = torch.float32):
    """`comfy.supported_models.<model_class>(unet_config)` in `dtype`, with `unet_config` taking precedence."""
    # A copy: the table stays untouched whatever the model does with it.
    unet_config = with_newer_required(copy.deepcopy(unet_config))
    config = getattr(sm, model_class)(unet_config)
    # BASE.__init__ merges the class's unet_extra_config (e.g. SD15's 8 heads) over ours: ours wins.
    config.unet_config.update(unet_config)
    config.set_inference_dtype(dtype, None)
    return config


def init_weights(module: torch.nn.Module, seed: int, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Initialise every parameter (and the `torch.empty` position buffers) of `module` in place, seeded.

    The random numbers come from a generator on `device` (a full-size model is initialised on its GPU in
    seconds); the CPU values are what the committed demo models were built with.
    """
    gen = torch.Generator(device).manual_seed(seed)

    def randn(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float32, device=device) * std

    with torch.no_grad():
        for mod in module.modules():
            is_norm = "norm" in type(mod).__name__.lower()
            for name, p in mod.named_parameters(recurse=False):
                if is_norm:
                    value = torch.ones(p.shape) if name in _NORM_WEIGHT_NAMES else torch.zeros(p.shape)
                elif name == "bias":
                    value = torch.zeros(p.shape)
                elif isinstance(mod, torch.nn.Embedding):
                    value = randn(p.shape, 1.0)
                elif p.ndim >= 2 and name == "weight":  # Linear / ConvNd: fan_in = in_features * kernel
                    value = randn(p.shape, 1.0 / math.sqrt(math.prod(p.shape[1:])))
                else:  # free tensors: modulation tables, pad tokens, ...
                    value = randn(p.shape, 1.0 / math.sqrt(p.shape[-1]))
                p.copy_(value.to(p.dtype))
            for name, b in mod.named_buffers(recurse=False):
                if name == "pos_embed" and b.is_floating_point():  # MMDiT: torch.empty, loaded from checkpoints
                    b.copy_(randn(b.shape, 0.02).to(b.dtype))
    return module


def build_model(family: str, seed: int = 0) -> comfy.model_patcher.ModelPatcher:
    """A real ComfyUI model of `family` with tiny config and seeded weights, in a CPU ModelPatcher."""
    spec = family_spec(family)
    return build_from_config(spec.model_class, spec.unet_config, seed + _SEED_SALT[family])


def build_from_config(model_class: str, unet_config: dict, seed: int) -> comfy.model_patcher.ModelPatcher:
    """Any `comfy.supported_models` class from an explicit `unet_config`, seeded, in a CPU ModelPatcher."""
    device = torch.device("cpu")
    model = config_from(model_class, unet_config).get_model({}, device=device)
    init_weights(model.diffusion_model, seed=seed)
    model.eval()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=device)


def latent_channels(family: str) -> int:
    """Channels of the family's latent, from ComfyUI's own latent format."""
    return getattr(sm, family_spec(family).model_class).latent_format.latent_channels


def latent_shape(family: str, batch: int = 1, width: int = 64, height: int = 64, frames: int = 1) -> tuple:
    spec = family_spec(family)
    hw = (height // spec.spatial, width // spec.spatial)
    if spec.temporal is not None:  # as ComfyUI's EmptyHunyuanLatentVideo / EmptyLTXVLatentVideo compute it
        return (batch, latent_channels(family), (max(frames, 1) - 1) // spec.temporal + 1, *hw)
    if spec.video_dims:  # image model with a 3-D latent format (Qwen-Image): one frame
        return (batch, latent_channels(family), 1, *hw)
    return (batch, latent_channels(family), *hw)


def empty_latent(family: str, batch: int = 1, width: int = 64, height: int = 64, frames: int = 1) -> torch.Tensor:
    """Zeros in the family's latent layout.

    Images `[B, C, H/8, W/8]`; video families `[B, C, T, H/s, W/s]` with ComfyUI's own temporal
    compression (Wan, HunyuanVideo: T = (frames-1)//4 + 1, s = 8; LTXV: 128 channels, T = (frames-1)//8 + 1,
    s = 32). Qwen-Image gets `[B, 16, 1, H/8, W/8]`, the shape the KSampler node gives it
    (`comfy.sample.fix_empty_latent_channels`), so the tensor can go straight to `comfy.sample.sample`.
    """
    return torch.zeros(latent_shape(family, batch, width, height, frames))


def conditioning(family: str, batch: int = 1, seed: int = 0, tokens: int = 8) -> list:
    """A CONDITIONING list `[[context, {...}]]` the family's model accepts, seeded (seed picks the 'prompt')."""
    spec = family_spec(family)
    gen = torch.Generator().manual_seed(seed * 7919 + 17)
    context = torch.randn((batch, tokens, spec.context_dim), generator=gen)
    extra: dict = dict(spec.extra_cond)
    if spec.pooled_dim is not None:
        extra["pooled_output"] = torch.randn((batch, spec.pooled_dim), generator=gen)
    if spec.guidance is not None:
        extra["guidance"] = spec.guidance
    if spec.attention_mask:
        extra["attention_mask"] = torch.ones((batch, tokens), dtype=torch.long)
    return [[context, extra]]


def param_count(patcher: comfy.model_patcher.ModelPatcher) -> int:
    return sum(p.numel() for p in patcher.model.diffusion_model.parameters())


class _RecordingDict(dict):
    """An empty patch table that records every key a model's forward asks it about."""

    def __init__(self, log: list):
        super().__init__()
        self._log = log

    def __contains__(self, key):
        if key not in self._log:
            self._log.append(key)
        return False

    def get(self, key, default=None):
        self.__contains__(key)
        return default


def probe_patch_replace_keys(patcher: comfy.model_patcher.ModelPatcher, latent: torch.Tensor,
                             cond: list) -> dict[str, list]:
    """Run one model evaluation and list, per `patches_replace` table ("dit", "attn1", "attn2"), the keys
    the model's forward looked up, in order. Shows which block replacements a family honours."""
    import comfy.patcher_extension
    import comfy.sample

    seen: dict[str, list] = {"dit": [], "attn1": [], "attn2": []}

    def spy(executor, *args, **kwargs):
        opts = kwargs.get("transformer_options")
        if opts is None:
            opts = args[5] if len(args) > 5 else {}
        opts["patches_replace"] = {name: _RecordingDict(log) for name, log in seen.items()}
        return executor(*args, **kwargs)

    probe = patcher.clone()
    probe.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, "afterburner_dev_probe", spy)
    noise = comfy.sample.prepare_noise(latent, 0)
    comfy.sample.sample(probe, noise, 1, 1.0, "euler", "simple", cond, cond, latent, seed=0, disable_pbar=True)
    return seen
