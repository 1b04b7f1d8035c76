"""API-format prompts (what `POST /prompt` takes) for the tiny dev models, with or without a cache node."""

from __future__ import annotations

from typing import Any

Prompt = dict[str, dict[str, Any]]


def sampling_prompt(family: str = "flux", *, steps: int = 20, cfg: float = 1.0, sampler: str = "euler",
                    seed: int = 0, size: int = 64, frames: int = 1, batch: int = 1,
                    cache: tuple[str, dict[str, Any]] | None = None) -> Prompt:
    """tiny model -> [cache node] -> KSampler -> SaveLatent (a prompt needs an output node).

    cache: (node id, its inputs without `model`), e.g. ("AfterburnerAutoCache", {"speed_factor": 0.5, ...}).
    """
    prompt: Prompt = {
        "model": {"class_type": "AfterburnerDevTinyModel", "inputs": {"family": family, "seed": 0}},
        "positive": {"class_type": "AfterburnerDevTinyConditioning", "inputs": {"family": family, "seed": 1,
                                                                                "batch": 1}},
        "negative": {"class_type": "AfterburnerDevTinyConditioning", "inputs": {"family": family, "seed": 2,
                                                                                "batch": 1}},
        "latent": {"class_type": "AfterburnerDevTinyLatent", "inputs": {"family": family, "width": size,
                                                                        "height": size, "frames": frames,
                                                                        "batch": batch}},
    }
    model_ref = ["model", 0]
    if cache is not None:
        node_id, inputs = cache
        prompt["cache"] = {"class_type": node_id, "inputs": {"model": model_ref, **inputs}}
        model_ref = ["cache", 0]
    prompt["sampler"] = {"class_type": "KSampler", "inputs": {
        "model": model_ref, "positive": ["positive", 0], "negative": ["negative", 0], "latent_image": ["latent", 0],
        "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler, "scheduler": "simple", "denoise": 1.0}}
    prompt["save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sampler", 0],
                                                             "filename_prefix": f"afterburner/{family}"}}
    return prompt


def cache_inputs(node_id: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """A cache node with its defaults plus `overrides`."""
    shared = {"cache_mode": "default", "offload_to_cpu": False}
    first_block = {"residual_diff_threshold": 0.12, "start": 0.0, "end": 1.0, "max_consecutive_cache_hits": -1}
    defaults = {
        "AfterburnerPeriodicCache": {"cache_interval": 2, "start_step": 2},
        "AfterburnerAdaptiveCache": {"threshold": 0.01, "max_skip_steps": 4},
        "AfterburnerAutoCache": {"speed_factor": 0.5},
        "AfterburnerFirstBlockCache": first_block,
        "AfterburnerBlockCache": {"first_blocks": 1, "last_blocks": 0, **first_block, "skip_double_blocks": "",
                                  "skip_single_blocks": ""},
    }[node_id]
    return node_id, {**shared, **defaults, **overrides}
