"""Test-environment plumbing, run by ComfyUI's main.py before core is imported (never shipped to users).

The index's torchvision 0.28.0 is a CUDA build whose C++ ops cannot load beside the CPU torch we
install; importing it fails on `operator torchvision::nms does not exist`. ComfyUI imports torchvision
but never calls those ops, so declaring their schemas is enough for the import to succeed.
"""

import contextlib

import torch


def install_torchvision_shim() -> None:
    for op in ("nms", "qnms"):
        with contextlib.suppress(RuntimeError):  # already defined: the real ops loaded, or the shim ran before
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


install_torchvision_shim()
