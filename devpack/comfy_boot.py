"""Import a real ComfyUI in this process, on the CPU, the way tests, benchmarks and dev scripts need it.

ComfyUI's `main.py` normally does this; here we only want its library (`comfy.*`, `nodes`), so we put
the tree on `sys.path`, apply the test-environment torchvision shim and force CPU before
`comfy.model_management` picks a device at import time.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_comfyui_dir() -> Path:
    return Path(os.environ.get("COMFYUI_DIR") or REPO / ".comfyui").resolve()


def boot_comfyui(comfy_dir: Path | None = None, threads: int | None = None) -> Path:
    """Make `import comfy` work in this process; returns the ComfyUI tree. Safe to call twice."""
    comfy_dir = Path(comfy_dir or default_comfyui_dir())
    if not (comfy_dir / "comfy").is_dir():
        raise RuntimeError(f"No ComfyUI at {comfy_dir}: run `make setup` (or set COMFYUI_DIR).")
    if str(comfy_dir) not in sys.path:
        sys.path.insert(0, str(comfy_dir))
    runpy.run_path(str(Path(__file__).with_name("prestartup_script.py")))
    import torch

    if threads:
        torch.set_num_threads(threads)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    return comfy_dir
