"""A full-size Flux.1-dev architecture with random weights on a GPU, built from ComfyUI's own classes.

For speed measurements only (no download can happen here, and speed does not depend on the weights):
ComfyUI's `supported_models.Flux` with the configuration `comfy.model_detection` reads off a Flux.1-dev
checkpoint (19 double + 38 single blocks, width 3072, guidance embedding), in bf16, in a `ModelPatcher`
whose load and offload device is the GPU, so ComfyUI never moves it during a benchmark.

`boot()` must run before anything imports `comfy`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

FLUX_DEV = {
    "image_model": "flux",
    "in_channels": 16,
    "out_channels": 16,
    "patch_size": 2,
    "vec_in_dim": 768,
    "context_in_dim": 4096,
    "hidden_size": 3072,
    "mlp_ratio": 4.0,
    "num_heads": 24,
    "depth": 19,
    "depth_single_blocks": 38,
    "axes_dim": [16, 56, 56],
    "theta": 10000,
    "qkv_bias": True,
    "guidance_embed": True,
}
TEXT_TOKENS = 512  # T5-XXL sequence length Flux.1-dev is run with


def boot() -> None:
    """Import ComfyUI on the GPU (the CPU where there is none, to check the harness) and the pack as
    `afterburner`, with PyTorch's SDPA attention (ComfyUI's choice on an NVIDIA GPU without xformers, and
    on CPU the attention that does not graph-break compiled code)."""
    sys.path.insert(0, str(REPO))
    import torch

    from devpack.comfy_boot import boot_comfyui
    from devtools.pack_import import register_pack

    register_pack()
    boot_comfyui(cpu=not torch.cuda.is_available(), pytorch_attention=True)


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU (CPU)"


def build(seed: int = 0, depth: int | None = None, single_depth: int | None = None, width: int | None = None) -> Any:
    """The model in a GPU ModelPatcher; depth, single_depth and width (a multiple of the head dim, 128) shrink
    it for a quick check of the harness."""
    import comfy.model_management
    import comfy.model_patcher
    import torch

    from devpack import tiny_models

    device = comfy.model_management.get_torch_device()
    hidden = width or FLUX_DEV["hidden_size"]
    unet_config = dict(FLUX_DEV, depth=depth or FLUX_DEV["depth"], hidden_size=hidden, num_heads=hidden // 128,
                       depth_single_blocks=single_depth or FLUX_DEV["depth_single_blocks"])
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = tiny_models.config_from("Flux", unet_config, dtype=dtype).get_model({}, device=device)
    tiny_models.init_weights(model.diffusion_model, seed=seed, device=device)
    model.eval()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=device)


def tflop_per_step(size: int, depth: int, single_depth: int, width: int, batch: int = 1) -> float:
    """Matrix work of one cfg-1 step in the blocks, TFLOP: per token and block 24 w^2 in linears (a double
    block's two streams each see their own tokens; qkv 3w^2 + proj w^2 + mlp 8w^2, a single block's
    linear1 7w^2 + linear2 5w^2, times 2 for multiply-add; modulation works on one vector) and 4 T w in attention."""
    tokens = (size // 16) ** 2 + TEXT_TOKENS
    return batch * (depth + single_depth) * (24 * width**2 * tokens + 4 * tokens**2 * width) / 1e12


def conditioning(batch: int = 1, seed: int = 0) -> list:
    """A random T5-width prompt with CLIP pooled output and Flux-dev's distilled guidance 3.5."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    context = torch.randn((batch, TEXT_TOKENS, FLUX_DEV["context_in_dim"]), generator=gen)
    pooled = torch.randn((batch, FLUX_DEV["vec_in_dim"]), generator=gen)
    return [[context, {"pooled_output": pooled, "guidance": 3.5}]]


def sample(model: Any, steps: int, size: int = 1024, batch: int = 1, seed: int = 0, sampler: str = "euler") -> Any:
    """One sampling run at `size`x`size` pixels (cfg 1, as Flux-dev is run), through ComfyUI's sampler, timed
    by the caller; returns the latent after the GPU has finished."""
    import comfy.sample
    import torch

    latent = torch.zeros((batch, 16, size // 8, size // 8))
    cond = conditioning(batch, seed)
    with torch.inference_mode():
        out = comfy.sample.sample(model, comfy.sample.prepare_noise(latent, seed), steps, 1.0, sampler, "simple",
                                  cond, cond, latent, seed=seed, disable_pbar=True)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out


def environment() -> dict[str, str]:
    """What the figures were measured on."""
    import platform

    import torch
    from comfyui_version import __version__ as comfyui_version

    return {"gpu": gpu_name(), "dtype": "bf16" if torch.cuda.is_available() else "fp32",
            "torch": torch.__version__, "comfyui": comfyui_version,
            "cpu_cores": str(os.cpu_count()), "platform": f"{platform.system()} {platform.release()}"}
