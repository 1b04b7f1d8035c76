"""`make compat`: the demo and the ComfyUI test layers on another ComfyUI tree, from the virtualenv running this.

    COMFYUI_DIR=/path/to/ComfyUI /tmp/compat-venv/bin/python -m devpack.compat [TESTS...] [--no-demo]

`make compat COMFYUI_DIR=...` first sets that venv up against the tree (scripts/setup_env.py with
AFTERBURNER_VENV), then runs this: `devtools.demo`, then `pytest tests/server tests/inprocess` (or TESTS), and
prints a summary; the exit status is 0 only when both passed. See docs/compatibility.md.

The ComfyUI servers it starts run on this interpreter: it sets AFTERBURNER_VENV to this venv, which
devtools.comfy_server reads.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TESTS = ("tests/server", "tests/inprocess")


def run_streamed(cmd: list[str]) -> tuple[int, list[str], float]:
    """Run `cmd` in the repo with its output passed through; (exit status, its output lines, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    return proc.wait(), lines, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The demo and the server and in-process tests on COMFYUI_DIR.")
    parser.add_argument("tests", nargs="*", default=list(DEFAULT_TESTS), help="what pytest runs")
    parser.add_argument("--no-demo", action="store_true", help="skip devtools.demo")
    args = parser.parse_args(argv)
    if not os.environ.get("COMFYUI_DIR"):
        print("[compat] COMFYUI_DIR is not set: run `make compat COMFYUI_DIR=/path/to/ComfyUI`", file=sys.stderr)
        return 2
    from devpack.comfy_boot import comfyui_version, default_comfyui_dir

    os.environ["AFTERBURNER_VENV"] = sys.prefix
    comfy = default_comfyui_dir()
    header = f"ComfyUI {comfyui_version(comfy)} at {comfy}, python {sys.executable}"
    print(f"[compat] {header}", flush=True)
    results = []
    if not args.no_demo:
        print("[compat] demo: python -m devtools.demo", flush=True)
        rc, _, seconds = run_streamed([sys.executable, "-m", "devtools.demo"])
        results.append(("demo", rc, f"{'passed' if rc == 0 else f'FAILED (exit {rc})'} in {seconds:.0f} s", []))
    print(f"[compat] pytest {' '.join(args.tests)}", flush=True)
    pytest = str(Path(sys.executable).with_name("pytest"))
    rc, lines, seconds = run_streamed([pytest, *args.tests])
    totals = [line.strip("= ") for line in lines if re.match(r"^=+ .*\b(passed|failed|error|errors)\b.* in ", line)]
    problems = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    results.append(("pytest", rc, (totals[-1] if totals else f"exit {rc}, no pytest summary") +
                    f" (exit {rc}, {seconds:.0f} s)", problems))

    print(f"\n[compat] summary: {header}")
    for name, _, text, details in results:
        print(f"[compat]   {name}: {text}")
        for detail in details:
            print(f"[compat]     {detail}")
    return 0 if all(rc == 0 for _, rc, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
