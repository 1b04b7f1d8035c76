"""Import the pack as `afterburner` outside ComfyUI (tests, benchmarks).

The pack is a ComfyUI custom-node folder that may be cloned under any name, so it only uses relative
imports; this gives it a stable package name. Its `__init__` is not run: it needs a running server.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def register_pack(name: str = "afterburner") -> None:
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_loader(name, loader=None, is_package=True)
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [str(REPO)]
    sys.modules[name] = module
