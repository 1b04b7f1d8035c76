"""Every node the pack registers, under namespaced ids (node ids are global across installed packs), through
ComfyUI's extension entry point as core's own node packs do."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .cache_nodes import CACHE_NODES
from .compile_nodes import COMPILE_NODES

NODES: tuple[type[io.ComfyNode], ...] = CACHE_NODES + COMPILE_NODES


class AfterburnerExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> AfterburnerExtension:
    return AfterburnerExtension()
