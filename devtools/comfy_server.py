"""Start and stop a real ComfyUI server (`main.py --cpu`) with the pack, for demos, tests and `make run`.

As a library: `with ComfyServer() as server: server.post_prompt(...)`.
As a command: `python -m devtools.comfy_server --port 8188` serves until interrupted and prints
`READY <url>` once the server answers (the browser tests read that line).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PACKS = ("afterburner", "afterburner_devpack")


def comfyui_dir() -> Path:
    return Path(os.environ.get("COMFYUI_DIR") or REPO / ".comfyui").resolve()


def venv_python() -> str:
    """The set-up's interpreter: `.venv`'s, or the one AFTERBURNER_VENV names (`make compat`'s throwaway venv)."""
    venv = Path(os.environ["AFTERBURNER_VENV"]) if os.environ.get("AFTERBURNER_VENV") else REPO / ".venv"
    candidate = venv / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def wait_until(predicate, timeout: float = 10.0) -> Any:
    """Poll `predicate` until it returns something truthy, and return that (AssertionError after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := predicate()):
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ComfyServer:
    """One ComfyUI process on 127.0.0.1, loading only the named custom-node folders (Afterburner and its dev pack)."""

    def __init__(self, port: int = 0, extra_args: tuple[str, ...] = (), log_path: Path | None = None,
                 ready_timeout: float = 120.0, packs: tuple[str, ...] = PACKS) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = extra_args
        self.packs = packs
        self.ready_timeout = ready_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="afterburner-comfy-"))
        self.log_path = log_path or self.workdir / "server.log"
        self.client_id = uuid.uuid4().hex
        self.process: subprocess.Popen | None = None

    def start(self) -> ComfyServer:
        comfy = comfyui_dir()
        (self.workdir / "user").mkdir(exist_ok=True)
        cmd = [
            venv_python(), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--disable-all-custom-nodes", "--whitelist-custom-nodes", *self.packs,
            "--output-directory", str(self.workdir / "output"), "--temp-directory", str(self.workdir / "temp"),
            "--user-directory", str(self.workdir / "user"), "--disable-auto-launch", *self.extra_args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, cwd=comfy, stdout=self.log_file, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Kill the python process itself (ComfyUI ignores polite shutdowns while it works)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if getattr(self, "log_file", None):
            self.log_file.close()

    def __enter__(self) -> ComfyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{self.log_text()[-4000:]}")
            try:
                self.get_json("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"ComfyUI did not answer in {self.ready_timeout}s:\n{self.log_text()[-4000:]}")

    # --- HTTP helpers -------------------------------------------------------------------------------

    def request(self, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, parsed JSON body); never raises on HTTP error codes."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, raw.decode(errors="replace")

    def get_json(self, path: str) -> Any:
        status, body = self.request(path)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body}")
        return body

    def queue_prompt(self, prompt: dict[str, Any]) -> str:
        status, body = self.request("/prompt", {"prompt": prompt, "client_id": self.client_id})
        if status != 200:
            raise RuntimeError(f"POST /prompt -> {status}: {json.dumps(body)[:2000]}")
        return body["prompt_id"]

    def wait_for(self, prompt_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """Poll /history until the prompt finished; returns its history entry."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                if entry["status"].get("status_str") == "error":
                    messages = json.dumps(entry["status"].get("messages"))[:4000]
                    raise RuntimeError(f"prompt {prompt_id} failed: {messages}")
                return entry
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout}s")

    def run_prompt(self, prompt: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        return self.wait_for(self.queue_prompt(prompt), timeout)


def execution_seconds(history_entry: dict[str, Any]) -> float:
    """The server's own start-to-success time of a finished prompt (from its status messages)."""
    stamps = {name: data["timestamp"] for name, data in history_entry["status"]["messages"]}
    return (stamps["execution_success"] - stamps["execution_start"]) / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve ComfyUI with Afterburner and the dev pack.")
    parser.add_argument("--port", type=int, default=8188, help="0 picks a free port")
    parser.add_argument("extra", nargs="*", help="more arguments for ComfyUI's main.py (after --)")
    args = parser.parse_args()
    server = ComfyServer(port=args.port, extra_args=tuple(args.extra))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.start()
        print(f"READY {server.url}", flush=True)
        print(f"ComfyUI log: {server.log_path}", flush=True)
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
