"""In-process layer: the real ComfyUI library (model classes, ModelPatcher, samplers) in the test process."""

import logging

import pytest

from devpack.comfy_boot import boot_comfyui

# One thread: this machine has 2 cores and other torch work may run beside the tests.
boot_comfyui(threads=1)


@pytest.fixture(scope="module", autouse=True)
def _quiet_comfy():
    """ComfyUI logs every model load at INFO; the tests load hundreds."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.WARNING)
    yield
    logging.getLogger().setLevel(level)
