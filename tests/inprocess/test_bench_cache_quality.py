"""The cache-quality benchmark keeps running and writes the schema the README and issue rely on.

Correctness only: no figure it prints is asserted (speed is measured in bench/, never in tests).
"""

import json
import subprocess
import sys
from pathlib import Path

from devtools.pack_import import REPO

ROW_KEYS = {"method", "params", "steps", "sampler", "seeds", "compute_fraction", "speedup_wall", "psnr_latent",
            "ssim_image"}


def test_quick_run_writes_json_markdown_and_plot(tmp_path: Path):
    subprocess.run([sys.executable, str(REPO / "bench" / "cache_quality.py"), "--quick", "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin"})
    results = json.loads((tmp_path / "cache_quality.json").read_text())
    assert {"machine", "torch", "comfyui", "rows"} <= set(results)
    methods = {row["method"] for row in results["rows"]}
    assert {"comfy:easycache", "comfy:easycache_input_copied", "comfy:lazycache"} <= methods
    assert any(m.startswith("afterburner:") for m in methods)
    for row in results["rows"]:
        assert set(row) == ROW_KEYS
        assert 0 < row["compute_fraction"] <= 1 and -1 <= row["ssim_image"] <= 1
    table = (tmp_path / "cache_quality.md").read_text().splitlines()
    assert sum(line.startswith(("| afterburner:", "| comfy:")) for line in table) == len(results["rows"])
    assert (tmp_path / "cache_quality.png").stat().st_size > 10_000
