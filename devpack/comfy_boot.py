"""Import a real ComfyUI in this process, the way tests, benchmarks and dev scripts need it.

ComfyUI's `main.py` normally does this; here we only want its library (`comfy.*`, `nodes`), so we put
the tree on `sys.path`, apply the test-environment torchvision shim and, unless a GPU benchmark asks
otherwise, force CPU before `comfy.model_management` picks a device at import time.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_comfyui_dir() -> Path:
    return Path(os.environ.get("COMFYUI_DIR") or REPO / ".comfyui").resolve()


def comfyui_version(comfy_dir: Path | None = None) -> str:
    """The version a ComfyUI tree says it is (`comfyui_version.py`), read without importing ComfyUI."""
    path = Path(comfy_dir or default_comfyui_dir()) / "comfyui_version.py"
    match = re.search(r"__version__\s*=\s*[\"']([^\"']+)[\"']", path.read_text())
    if not match:
        raise RuntimeError(f"{path} names no __version__")
    return match.group(1)


def stub_missing_pyav() -> None:
    """Let `comfy_api` import where PyAV is not installed (the GPU machines' image lacks it and cannot fetch it).

    ComfyUI imports PyAV at module level for video I/O (`av`, `av.container.InputContainer`,
    `av.subtitles.stream.SubtitleStream`); sampling never touches it. Any use of the stub raises.
    """
    try:
        import av  # noqa: F401
        return
    except ImportError:
        pass
    import types

    class Missing:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("PyAV is not installed here (devpack.comfy_boot stub): video I/O is unavailable")

    def any_class(attr: str) -> type:  # every class ComfyUI names at import time
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Missing

    for name in ("av", "av.container", "av.subtitles", "av.subtitles.stream"):
        sys.modules[name] = types.ModuleType(name, "stand-in for PyAV, see devpack.comfy_boot.stub_missing_pyav")
        sys.modules[name].__getattr__ = any_class


def boot_comfyui(comfy_dir: Path | None = None, threads: int | None = None, cpu: bool = True,
                 pytorch_attention: bool = False) -> Path:
    """Make `import comfy` work in this process; returns the ComfyUI tree. Safe to call twice.

    cpu=False leaves the device to ComfyUI (the GPU benchmarks), and stands in for PyAV if it is missing.
    pytorch_attention: as the server's --use-pytorch-cross-attention (PyTorch SDPA; ComfyUI's CPU default,
    sub-quadratic attention, graph-breaks compiled code). Takes effect if `comfy.model_management` is not
    imported yet.
    """
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

    comfy.cli_args.args.cpu = cpu
    if pytorch_attention:
        comfy.cli_args.args.use_pytorch_cross_attention = True
    if not cpu:
        stub_missing_pyav()
    return comfy_dir
