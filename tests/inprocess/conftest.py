"""In-process layer: the real ComfyUI library (model classes, ModelPatcher, samplers) in the test process."""

import logging
import os
from pathlib import Path

import pytest

from devpack.comfy_boot import boot_comfyui

# Compile tests share inductor's cache across runs (a cold compile of one block is 10-40 s here); inductor reads
# the folder from the environment when it first compiles.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(__file__).resolve().parents[2] / ".cache" /
                                                    "inductor-tests"))

# One thread: this machine has 2 cores and other torch work may run beside the tests.
boot_comfyui(threads=1)


@pytest.fixture(scope="module", autouse=True)
def _quiet_comfy():
    """ComfyUI logs every model load at INFO; the tests load hundreds."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.WARNING)
    yield
    logging.getLogger().setLevel(level)
