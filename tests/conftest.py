"""Shared test setup: make the repo importable as the `afterburner` package and `devpack` importable.

The pack is a ComfyUI custom-node folder that may be cloned under any name, so it only uses relative
imports; tests give it a stable package name. Its top-level `py/` would clash with pytest's `py` shim
if put on sys.path directly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _register_pack_namespace() -> None:
    """Expose `afterburner.py.*` without running the pack's `__init__` (which needs a running server)."""
    if "afterburner" in sys.modules:
        return
    spec = importlib.util.spec_from_loader("afterburner", loader=None, is_package=True)
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [str(REPO)]
    sys.modules["afterburner"] = module


_register_pack_namespace()
