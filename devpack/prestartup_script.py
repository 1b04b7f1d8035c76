"""Test-environment plumbing, run by ComfyUI's main.py before core is imported (never shipped to users).

The index's torchvision 0.28.0 is a CUDA build whose C++ ops cannot load beside the CPU torch we
install; importing it fails on `operator torchvision::nms does not exist`. ComfyUI imports torchvision
but never calls those ops, so declaring their schemas is enough for the import to succeed.
"""

import contextlib
import importlib.util
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


install_torchvision_shim()
