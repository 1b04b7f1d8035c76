"""Afterburner for ComfyUI: step caching, compilation and attention tuning, with a live sidebar.

ComfyUI imports this folder under whatever name it was cloned into, so everything below is relative.
"""

from . import server_routes  # noqa: F401 - registers the /afterburner/* routes at import time
from .py.nodes.registry import comfy_entrypoint

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
