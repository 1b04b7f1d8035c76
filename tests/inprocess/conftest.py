"""In-process layer: the real ComfyUI library (model classes, ModelPatcher, samplers) in the test process."""

from devpack.comfy_boot import boot_comfyui

# One thread: this machine has 2 cores and other torch work may run beside the tests.
boot_comfyui(threads=1)
