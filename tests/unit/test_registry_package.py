"""The package users install from the Comfy Registry: comfy-cli, the registry's own tool, validates the pack's
pyproject.toml, and `comfy node pack` ships the pack without the development environment (`.comfyignore`)."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from devtools.pack_import import REPO

COMFY_CLI = REPO / ".cache" / "comfy-cli-venv" / "bin" / "comfy"
SHIPPED = ("__init__.py", "server_routes.py", "pyproject.toml", "README.md", "LICENSE", "py/run/context.py",
           "py/nodes/registry.py", "web/js/afterburner.js", "web/icon.svg")
DEV_ONLY = (".ci/", "bench/", "devpack/", "devtools/", "docs/", "scripts/", "tests/", "Makefile", "package.json")


def comfy(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """comfy-cli without prompts or telemetry, its config in `home`, no standard input."""
    assert COMFY_CLI.exists(), "comfy-cli is missing: `python3 scripts/setup_env.py --test-tools` (make test does it)"
    return subprocess.run([str(COMFY_CLI), "--skip-prompt", "--no-enable-telemetry", *args], cwd=cwd,
                          env={"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A clone of the committed pack: `comfy node pack` packs git-tracked files and writes node.zip where it runs."""
    dest = tmp_path_factory.mktemp("registry") / "afterburner"
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True, timeout=120)
    return dest


def test_comfy_cli_validates_the_pyproject(checkout: Path, tmp_path: Path):
    result = comfy(["node", "validate"], checkout, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "validation checks passed" in output, output


def test_the_packed_node_holds_the_pack_and_none_of_the_dev_environment(checkout: Path, tmp_path: Path):
    result = comfy(["node", "pack"], checkout, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    names = zipfile.ZipFile(checkout / "node.zip").namelist()
    assert not [name for name in SHIPPED if name not in names], names
    assert any(name.startswith("workflows/") and name.endswith(".json") for name in names)
    assert not [name for name in names if name.startswith(DEV_ONLY)], "dev-only files shipped"
