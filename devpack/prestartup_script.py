"""Test-environment plumbing, run by ComfyUI's main.py before core is imported (never shipped to users).

The index's torchvision 0.28.0 is a CUDA build whose C++ ops cannot load beside the CPU torch we
install; importing it fails on `operator torchvision::nms does not exist`. ComfyUI imports torchvision
but never calls those ops, so declaring their schemas is enough for the import to succeed.

Newer ComfyUI (0.8.0 and 0.33.0 do) imports torchaudio at start (audio VAEs, encoders, nodes); set-up leaves it
out, as the index's torchaudio is a CUDA build that cannot load beside the CPU torch either. Where it cannot be
imported, a stand-in lets those imports succeed; using anything of it raises. Where the real one imports, nothing
changes.
"""

import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

import torch


def torchvision_ops_load() -> bool:
    """Whether torchvision's own C++ ops load beside this torch (a matching build, as on the GPU machines)."""
    spec = importlib.util.find_spec("torchvision")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for library in Path(folder).glob("_C*.so"):
            try:
                torch.ops.load_library(str(library))
                return True
            except (OSError, RuntimeError):
                return False
    return False


def install_torchvision_shim() -> None:
    if torchvision_ops_load():  # declaring the schemas too would abort the process when torchvision registers them
        return
    for op in ("nms", "qnms"):
        with contextlib.suppress(RuntimeError):  # already defined: the real ops loaded, or the shim ran before
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


def torchaudio_imports() -> bool:
    """Whether the real torchaudio imports here; a failed attempt leaves none of its modules behind."""
    try:
        importlib.import_module("torchaudio")
        return True
    except Exception:  # not installed (ImportError), or its native library does not load (OSError, RuntimeError)
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        return False


class _MissingTorchaudio:
    """Whatever ComfyUI takes from the stand-in torchaudio: a class or function that raises when used."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("torchaudio is not available here (devpack/prestartup_script.py stand-in): "
                           "audio nodes and audio models cannot run")


def _missing_attribute(attr: str) -> type:
    if attr.startswith("__"):
        raise AttributeError(attr)
    return _MissingTorchaudio


def install_torchaudio_shim() -> None:
    if "torchaudio" in sys.modules or torchaudio_imports():
        return
    for name in ("torchaudio", "torchaudio.functional", "torchaudio.transforms"):
        module = types.ModuleType(name, "stand-in for torchaudio, see devpack/prestartup_script.py")
        # A spec: importlib.util.find_spec (transformers asks it at import) raises on a module without one.
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=name == "torchaudio")
        module.__getattr__ = _missing_attribute
        sys.modules[name] = module
        if "." in name:
            setattr(sys.modules["torchaudio"], name.rsplit(".", 1)[1], module)


install_torchvision_shim()
install_torchaudio_shim()
