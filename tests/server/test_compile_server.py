"""The compile node inside a real ComfyUI server: a compiled workflow runs, its compile events arrive on the
websocket and are listed by GET /afterburner/events, and the compiled artifacts land in the folder the user's
extra_model_paths config gives `afterburner_compile`.

The server uses PyTorch attention (ComfyUI's CPU default graph-breaks under compile) and the same inductor
cache directory as the in-process compile tests, so a warm run compiles from cache.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.comfy_server import REPO, ComfyServer, wait_until
from devtools.prompts import sampling_prompt

COMPILE = ("AfterburnerCompile", {"backend": "inductor", "mode": "default", "dynamic": "auto", "fullgraph": False,
                                  "scope": "per block", "save_compiled": True})


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("afterburner_compile")


@pytest.fixture(scope="module")
def server(artifact_dir: Path) -> Iterator[ComfyServer]:
    config = artifact_dir.parent / "extra_model_paths.yaml"
    config.write_text(f"afterburner_tests:\n    afterburner_compile: {artifact_dir}\n")
    saved = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO / ".cache" / "inductor-tests"))
    try:
        with ComfyServer(extra_args=("--use-pytorch-cross-attention", "--extra-model-paths-config",
                                     str(config))) as running:
            yield running
    finally:
        if saved is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)


def test_compile_node_is_listed_with_a_tooltip_on_every_input(server: ComfyServer):
    node = server.get_json("/object_info")["AfterburnerCompile"]
    assert node["category"] == "afterburner/compile" and node["display_name"] == "Afterburner Compile"
    for name, spec in node["input"]["required"].items():
        assert spec[1].get("tooltip"), f"AfterburnerCompile.{name} has no tooltip"
    assert node["input"]["required"]["scope"][1]["options"] == ["per block", "whole model"]


def test_compiled_workflow_runs_and_its_compile_events_reach_the_websocket_and_routes(server, events, artifact_dir):
    seed = int(time.time() * 1000) % 100_000
    server.run_prompt(sampling_prompt("flux", steps=4, seed=seed, cache=COMPILE), timeout=600)
    live = wait_until(lambda: len(events.of_type("afterburner.compile")) >= 2 and events.of_type("afterburner.compile"),
                      timeout=20.0)
    targets = {e["target"] for e in live}
    assert {"double_blocks[0] DoubleStreamBlock", "single_blocks[0] SingleStreamBlock"} <= targets
    assert all(e["model"] == "Flux" and e["duration_s"] > 0 and e["reason"] for e in live)
    assert [e["count"] for e in live] == list(range(1, len(live) + 1))

    listed = server.get_json("/afterburner/events")["compiles"]
    assert [(e["target"], e["count"]) for e in listed[-len(live):]] == [(e["target"], e["count"]) for e in live]
    assert sorted(p.name.split("-")[0] for p in artifact_dir.glob("*.abcache")) == ["Flux"]
    assert not [n for n in server.get_json("/afterburner/events")["notices"] if n["source"] == "Compile"
                and n["severity"] == "error"]

    before = len(events.of_type("afterburner.compile"))
    server.run_prompt(sampling_prompt("flux", steps=4, seed=seed + 1, cache=COMPILE), timeout=600)
    time.sleep(0.5)
    assert len(events.of_type("afterburner.compile")) == before, "a new seed must not recompile"
