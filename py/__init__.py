"""Afterburner's backend: one subpackage per capability (cache, compile), the sampling run they share (run),
model-family adapters (arch), telemetry, and the two modules every capability goes through: the installer
contract (capability.py) and the ComfyUI glue (comfy_glue.py). The README's Layout section maps them."""
