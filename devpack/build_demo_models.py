"""Write the tiny demo diffusion models into a ComfyUI tree, so `UNETLoader` workflows have something to load.

    python devpack/build_demo_models.py --comfyui PATH [--force]

Writes `models/unet/afterburner_tiny_sd15.safetensors` (a one-level SD1.5-layout UNet: ComfyUI's detection
needs `model_channels == 320` and `context_dim == 768`, so this is ~26M parameters) and
`models/unet/afterburner_tiny_sd3.safetensors` (an SD3 MMDiT of depth 3, ~3.8M parameters, the same
config as `tiny_models.build_model("sd3")`). Weights are seeded and stored in fp16. A file that already
exists and loads with the expected tensors is left alone; new files are written to a temp file and
renamed. Afterwards each file is loaded through ComfyUI's own `nodes.UNETLoader` and the detected model
class is checked.

No text encoder is needed to sample them: `tiny_models.conditioning("sd15")` / `("sd3")` fit both files.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SEED = 1234
SD15_FILE = "afterburner_tiny_sd15.safetensors"
SD3_FILE = "afterburner_tiny_sd3.safetensors"

# What comfy.model_detection reads back from a one-level SD1.5 UNet, plus SD15's unet_extra_config.
SD15_FILE_CONFIG = {
    "use_checkpoint": False,
    "image_size": 32,
    "use_spatial_transformer": True,
    "legacy": False,
    "adm_in_channels": None,
    "in_channels": 4,
    "out_channels": 4,
    "model_channels": 320,
    "num_res_blocks": [1],
    "transformer_depth": [1],
    "transformer_depth_output": [1, 1],
    "channel_mult": [1],
    "transformer_depth_middle": 1,
    "use_linear_in_transformer": False,
    "context_dim": 768,
    "use_temporal_resblock": False,
    "use_temporal_attention": False,
    "num_heads": 8,
    "num_head_channels": -1,
}

# file name -> (supported_models class expected after detection, how to build the weights)
DEMO_MODELS = {
    SD15_FILE: "SD15",
    SD3_FILE: "SD3",
}


def expected_state_dict(file_name: str) -> dict:
    """The fp16 state dict the demo file `file_name` must hold (deterministic)."""
    import torch

    from devpack import tiny_models

    if file_name == SD15_FILE:
        patcher = tiny_models.build_from_config("SD15", SD15_FILE_CONFIG, SEED)
    elif file_name == SD3_FILE:
        patcher = tiny_models.build_model("sd3", SEED)
    else:
        raise ValueError(f"unknown demo model {file_name!r}; valid: {', '.join(DEMO_MODELS)}")
    sd = patcher.model.diffusion_model.state_dict()
    return {k: v.detach().to(torch.float16).contiguous() for k, v in sd.items()}


def file_is_valid(path: Path, expected: dict) -> bool:
    """True when `path` loads and holds exactly the expected tensor names, shapes and dtypes."""
    from safetensors.torch import load_file

    try:
        found = load_file(str(path))
    except Exception:
        return False
    if found.keys() != expected.keys():
        return False
    return all(found[k].shape == v.shape and found[k].dtype == v.dtype for k, v in expected.items())


def write_atomic(path: Path, state_dict: dict) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(state_dict, tmp, metadata={"format": "pt", "afterburner_demo": "1", "seed": str(SEED)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(unet_dir: Path, force: bool = False, log=print) -> dict[str, str]:
    """Make sure both demo files exist in `unet_dir`; returns {file name: "written" | "kept"}."""
    result = {}
    for name in DEMO_MODELS:
        path = unet_dir / name
        expected = expected_state_dict(name)
        if not force and path.exists() and file_is_valid(path, expected):
            result[name] = "kept"
        else:
            write_atomic(path, expected)
            result[name] = "written"
        n = sum(v.numel() for v in expected.values())
        log(f"{name}: {result[name]} ({n / 1e6:.1f}M params, {path.stat().st_size / 2**20:.1f} MiB)")
    return result


def verify(unet_dir: Path, log=print) -> None:
    """Load every demo file through ComfyUI's real UNETLoader; raise unless detection picks the right class
    and the loaded network holds exactly the file's weights (no missing or unexpected keys)."""
    import nodes
    import torch
    from safetensors.torch import load_file

    for name, class_name in DEMO_MODELS.items():
        patcher = nodes.UNETLoader().load_unet(name, "default")[0]
        detected = type(patcher.model.model_config).__name__
        if detected != class_name:
            raise RuntimeError(f"{name}: ComfyUI detected {detected}, expected {class_name}")
        stored = load_file(str(unet_dir / name))
        loaded = patcher.model.diffusion_model.state_dict()
        if stored.keys() != loaded.keys():
            diff = sorted(stored.keys() ^ loaded.keys())[:5]
            raise RuntimeError(f"{name}: loaded network and file disagree on keys, e.g. {diff}")
        for k, v in stored.items():
            if not torch.equal(loaded[k].float(), v.float()):
                raise RuntimeError(f"{name}: {k} differs after loading")
        log(f"{name}: UNETLoader detects {detected} ({type(patcher.model).__name__}), all {len(stored)} tensors loaded")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", required=True, help="ComfyUI tree to write models/unet/ into")
    parser.add_argument("--force", action="store_true", help="rewrite the files even when they are valid")
    parser.add_argument("--no-verify", action="store_true", help="skip loading them through UNETLoader")
    args = parser.parse_args(argv)

    # Run as a script, sys.path[0] is devpack/ itself, whose nodes.py would shadow ComfyUI's `nodes`.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path(here)]
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from devpack.comfy_boot import boot_comfyui

    comfy_dir = boot_comfyui(Path(args.comfyui), threads=1)
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    import folder_paths

    if Path(folder_paths.base_path).resolve() != comfy_dir.resolve():
        raise RuntimeError(f"folder_paths belongs to {folder_paths.base_path}, not {comfy_dir}: wrong ComfyUI imported")
    unet_dir = Path(folder_paths.models_dir) / "unet"
    build(unet_dir, force=args.force)
    if not args.no_verify:
        verify(unet_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
