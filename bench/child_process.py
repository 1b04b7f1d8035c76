"""One measurement in a fresh Python process: what compile benchmarks need, since a cold compile is only cold once
per process.

The child is the benchmark script itself, run as `script --child ARGS... OUT`; it writes its result as JSON to
OUT, which `run_child` reads back, prints in one line and returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run_child(script: Path, args: list[str], env: dict[str, str], label: str) -> dict[str, Any]:
    """Run `script --child *args OUT` with `env` added to this process's environment; its JSON result."""
    out = Path(tempfile.mkstemp(prefix="afterburner-bench-", suffix=".json")[1])
    cmd = [sys.executable, str(script), "--child", *args, str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, cwd=script.parent.parent,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    print(f"  {label:24s} {time.perf_counter() - start:7.1f}s  "
          f"{ {k: v for k, v in result.items() if k not in ('sweep_reasons', 'environment')} }", flush=True)
    return result
