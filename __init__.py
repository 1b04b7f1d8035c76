"""Afterburner for ComfyUI: step caching, compilation and attention tuning, with a live sidebar.

ComfyUI imports this folder under whatever name it was cloned into, so everything below is relative.
"""

from . import server_routes  # noqa: F401 - registers the /afterburner/* routes at import time
from .py.nodes.registry import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
