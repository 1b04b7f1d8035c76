"""A tiny *trained* Flux-class model for cache-quality measurements (real denoising trajectories).

The network is the real `comfy.supported_models.Flux` / `comfy.model_base.Flux` / `comfy.ldm.flux.model.Flux`
built from the small `CONFIG` below and loaded with the weights in `bench/models/tiny_flux.safetensors`
(trained by `bench/train_tiny_flux.py`, see `bench/models/README.md`). It generates 32x32 RGB images of
`NUM_CLASSES` procedural shape classes (`CLASS_NAMES`).

Latent space. There is no VAE: the "VAE" is an exact, fixed, invertible linear map. Inside the model (after
ComfyUI's `process_latent_in`) a 32x32 image is

    x = cat(pixel_unshuffle(rgb * 2 - 1, 2), pixel_unshuffle(grey * 2 - 1, 2))   # [B, 16, 16, 16]

(12 colour channels + 4 luminance channels, Flux's 16-channel layout). The latent a workflow carries (what
`comfy.sample.sample` takes and returns) is that tensor in Flux's *outer* latent space,
`x / 0.3611 + 0.1159`, exactly as a Flux VAE latent relates to what the transformer sees. `encode` and
`decode` convert between RGB images and outer latents; `decode` reads only the 12 colour channels.

ComfyUI must be importable before this module is imported (`devpack.comfy_boot.boot_comfyui()`).
"""

from __future__ import annotations

from pathlib import Path

import comfy.latent_formats
import comfy.model_patcher
import safetensors.torch
import torch
import torch.nn.functional as F

from devpack.tiny_models import config_from

WEIGHTS = Path(__file__).resolve().parent / "models" / "tiny_flux.safetensors"

CONFIG: dict = {
    "image_model": "flux",
    "in_channels": 16,
    "out_channels": 16,
    "vec_in_dim": 64,
    "context_in_dim": 64,
    "hidden_size": 128,
    "mlp_ratio": 4.0,
    "num_heads": 4,
    "depth": 2,
    "depth_single_blocks": 3,
    "axes_dim": [8, 12, 12],  # sums to the head dim 32
    "theta": 10000,
    "patch_size": 2,
    "qkv_bias": True,
    "guidance_embed": True,
}

CLASS_NAMES: tuple[str, ...] = (
    "red disc", "blue square", "green triangle", "yellow ring",
    "magenta horizontal stripes", "cyan vertical stripes", "orange cross", "purple checkerboard",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = 32
LATENT_SIZE = IMAGE_SIZE // 2  # latent is [B, 16, 16, 16]
LATENT_CHANNELS = 16
TOKENS = 4  # context tokens per class
GUIDANCE = 3.5

MODEL_PREFIX = "diffusion_model."
CONTEXT_KEY = "class_embedding.context"  # [NUM_CLASSES, TOKENS, context_in_dim]
POOLED_KEY = "class_embedding.pooled"  # [NUM_CLASSES, vec_in_dim]

_LATENT_FORMAT = comfy.latent_formats.Flux()
_SCALE = _LATENT_FORMAT.scale_factor  # 0.3611
_SHIFT = _LATENT_FORMAT.shift_factor  # 0.1159
_LUMA = (0.299, 0.587, 0.114)


# ---------------------------------------------------------------------------------------------- latents

def to_internal(images: torch.Tensor) -> torch.Tensor:
    """RGB `[B, 3, 32, 32]` in [0, 1] -> the model's internal latent `[B, 16, 16, 16]` (values in [-1, 1])."""
    x = images.float() * 2 - 1
    luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    grey = (x * luma).sum(dim=1, keepdim=True)
    return torch.cat((F.pixel_unshuffle(x, 2), F.pixel_unshuffle(grey, 2)), dim=1)


def from_internal(x: torch.Tensor) -> torch.Tensor:
    """Internal latent -> RGB in [0, 1] (colour channels only, clamped)."""
    rgb = F.pixel_shuffle(x[:, :12].float(), 2)
    return ((rgb + 1) / 2).clamp(0, 1)


def encode(images: torch.Tensor) -> torch.Tensor:
    """RGB `[B, 3, 32, 32]` in [0, 1] -> outer (workflow) latent, the inverse of ComfyUI's process_latent_in."""
    return to_internal(images) / _SCALE + _SHIFT


def decode(latent: torch.Tensor) -> torch.Tensor:
    """Outer (workflow) latent `[B, 16, H, W]`, e.g. the output of `comfy.sample.sample` -> RGB `[B, 3, 2H, 2W]`
    in [0, 1]."""
    return from_internal((latent.float() - _SHIFT) * _SCALE)


def empty_latent(batch: int = 1) -> torch.Tensor:
    return torch.zeros((batch, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE))


# ---------------------------------------------------------------------------------------------- model

def build_model() -> comfy.model_patcher.ModelPatcher:
    """The untrained (uninitialised) model, float32 on CPU, in a ModelPatcher."""
    config = config_from("Flux", CONFIG)  # with what newer ComfyUI's Flux requires besides
    device = torch.device("cpu")
    model = config.get_model({}, device=device)
    model.eval()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=device)


_EMBEDDINGS: dict[str, torch.Tensor] = {}


def _load_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: train it with `python bench/train_tiny_flux.py`")
    return safetensors.torch.load_file(str(path))


def load_model(path: Path | None = None) -> comfy.model_patcher.ModelPatcher:
    """`comfy.supported_models.Flux(CONFIG)` with the trained weights, in a CPU ModelPatcher."""
    state = _load_file(Path(path or WEIGHTS))
    patcher = build_model()
    weights = {k[len(MODEL_PREFIX):]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    # ComfyUI's own key conversion for the family, as its loader applies it (newer ComfyUI names RMSNorm's
    # parameter `weight`, where the file, written on 0.3.75, says `scale`)
    weights = patcher.model.model_config.process_unet_state_dict(weights)
    patcher.model.diffusion_model.load_state_dict(weights, strict=True)
    _EMBEDDINGS.update({CONTEXT_KEY: state[CONTEXT_KEY], POOLED_KEY: state[POOLED_KEY]})
    return patcher


def class_embeddings(path: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed per-class (context `[N, TOKENS, C]`, pooled `[N, V]`) embeddings stored with the weights."""
    if path is not None or not _EMBEDDINGS:
        state = _load_file(Path(path or WEIGHTS))
        _EMBEDDINGS.update({CONTEXT_KEY: state[CONTEXT_KEY], POOLED_KEY: state[POOLED_KEY]})
    return _EMBEDDINGS[CONTEXT_KEY], _EMBEDDINGS[POOLED_KEY]


def conditioning(class_id: int | None, batch: int = 1) -> list:
    """ComfyUI CONDITIONING `[[context [B, 4, 64], {"pooled_output": [B, 64], "guidance": 3.5}]]` for a class;
    `class_id=None` gives the null (unconditional) conditioning the model was trained with (all zeros)."""
    context, pooled = class_embeddings()
    if class_id is None:
        ctx, pool = torch.zeros_like(context[0]), torch.zeros_like(pooled[0])
    else:
        if not 0 <= int(class_id) < NUM_CLASSES:
            raise ValueError(f"class_id must be in [0, {NUM_CLASSES}), got {class_id!r}")
        ctx, pool = context[int(class_id)], pooled[int(class_id)]
    return [[ctx.unsqueeze(0).repeat(batch, 1, 1).clone(),
             {"pooled_output": pool.unsqueeze(0).repeat(batch, 1).clone(), "guidance": GUIDANCE}]]


def param_count(patcher: comfy.model_patcher.ModelPatcher) -> int:
    return sum(p.numel() for p in patcher.model.diffusion_model.parameters())
