"""Afterburner development pack: test-only ComfyUI nodes and helpers (never installed for users).

ComfyUI loads this folder as a custom-node pack (symlinked as `custom_nodes/afterburner_devpack`); tests
and scripts import it as `devpack` before ComfyUI is importable (`devpack.comfy_boot`). The node mappings
are therefore resolved lazily (PEP 562): importing the package imports nothing from ComfyUI, and
ComfyUI's `hasattr(module, "NODE_CLASS_MAPPINGS")` pulls in `.nodes` once ComfyUI is already loaded.
"""

_LAZY = ("NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS")


def __getattr__(name):
    if name in _LAZY:
        from . import nodes

        return getattr(nodes, name)
    raise AttributeError(name)


def __dir__():
    return sorted([*globals(), *_LAZY])
