"""Every node the pack registers, under namespaced ids (node ids are global across installed packs)."""

from __future__ import annotations

from .cache_nodes import CACHE_NODES
from .compile_nodes import COMPILE_NODES

_NODES = CACHE_NODES + COMPILE_NODES

NODE_CLASS_MAPPINGS = {node.GET_SCHEMA().node_id: node for node in _NODES}
NODE_DISPLAY_NAME_MAPPINGS = {node.GET_SCHEMA().node_id: node.GET_SCHEMA().display_name for node in _NODES}
