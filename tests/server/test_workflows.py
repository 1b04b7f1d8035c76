"""The example workflows in workflows/, loaded as the frontend would and queued on a real server."""

from __future__ import annotations

import copy
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from devpack.comfy_boot import comfyui_version
from devtools.comfy_server import REPO, ComfyServer, comfyui_dir
from devtools.make_workflows import GENERATED_ON, api_to_ui, without_unlinked_outputs, workflow_prompts
from devtools.ui_workflow import ui_to_api

WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
CACHE_NODES = ("AfterburnerPeriodicCache", "AfterburnerAdaptiveCache", "AfterburnerAutoCache",
               "AfterburnerFirstBlockCache", "AfterburnerBlockCache")
SAMPLERS = ("KSampler", "KSamplerAdvanced")
EXPECTED_RUNS = {"afterburner_adaptive_cache_wan22.json": 2}  # one per Wan 2.2 expert
# ComfyUI skips prompts it has already run; every run gets a seed of its own.
SEEDS = itertools.count(int(time.time()) % 100_000 * 10)


@pytest.fixture(scope="module")
def object_info(server: ComfyServer) -> dict[str, Any]:
    return server.get_json("/object_info")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def with_seed(prompt: dict[str, Any], seed: int) -> dict[str, Any]:
    """The prompt with every sampler's noise seed set to `seed` (the tiny models' weight seeds unchanged)."""
    prompt = copy.deepcopy(prompt)
    samplers = [entry for entry in prompt.values() if entry["class_type"] in SAMPLERS]
    assert samplers, "no sampler in the workflow"
    for entry in samplers:
        entry["inputs"]["noise_seed" if "noise_seed" in entry["inputs"] else "seed"] = seed
    return prompt


def with_prefix(prompt: dict[str, Any], prefix: str) -> dict[str, Any]:
    prompt = copy.deepcopy(prompt)
    for entry in prompt.values():
        if entry["class_type"] == "SaveLatent":
            entry["inputs"]["filename_prefix"] = prefix
    return prompt


def run_ids(server: ComfyServer) -> set[str]:
    return {run["run_id"] for run in server.get_json("/afterburner/runs?limit=50")["runs"]}


def finished_runs_since(server: ComfyServer, before: set[str], count: int, timeout: float = 10.0) -> list[dict]:
    """The run records that appeared since `before`, once `count` of them have finished (the bus folds events on
    its own thread, so a record can trail the prompt's end a little)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [run for run in server.get_json("/afterburner/runs?limit=50")["runs"] if run["run_id"] not in before]
        if sum(run["status"] != "running" for run in runs) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(0.05)


def cached_node_ids(history_entry: dict[str, Any]) -> set[str]:
    return {node_id for name, data in history_entry["status"]["messages"] if name == "execution_cached"
            for node_id in data["nodes"]}


def saved_latent(server: ComfyServer, history_entry: dict[str, Any]) -> torch.Tensor:
    (files,) = [output["latents"] for output in history_entry["outputs"].values() if "latents" in output]
    (saved,) = files
    path = server.workdir / "output" / saved["subfolder"] / saved["filename"]
    return load_file(str(path))["latent_tensor"]


def cache_node_ids(workflow: dict[str, Any]) -> list[int]:
    return [node["id"] for node in workflow["nodes"] if node["type"] in CACHE_NODES]


def without_node(workflow: dict[str, Any], node_id: int) -> dict[str, Any]:
    """The workflow with a MODEL -> MODEL node deleted and its consumers wired to what fed it (stock ComfyUI)."""
    workflow = copy.deepcopy(workflow)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    (feed_id,) = [item["link"] for item in nodes[node_id]["inputs"] if item["type"] == "MODEL"]
    (feed,) = [link for link in workflow["links"] if link[0] == feed_id]
    source = nodes[feed[1]]["outputs"][feed[2]]
    source["links"].remove(feed_id)
    kept = []
    for link in workflow["links"]:
        if link[0] == feed_id:
            continue
        if link[1] == node_id:
            link[1], link[2] = feed[1], feed[2]
            source["links"].append(link[0])
        kept.append(link)
    workflow["links"] = kept
    workflow["nodes"] = [node for node in workflow["nodes"] if node["id"] != node_id]
    return workflow


def test_every_workflow_is_generated_by_make_workflows_and_up_to_date(object_info):
    generated = workflow_prompts()
    assert sorted(path.name for path in WORKFLOWS) == sorted(generated)
    # Exactly as generated on the ComfyUI the files come from; on another one (make compat), the same graph: a newer
    # ComfyUI may give a node an output nothing links to (SaveLatent's `samples` in 0.33.0).
    same = (lambda workflow: workflow) if comfyui_version(comfyui_dir()) == GENERATED_ON else without_unlinked_outputs
    for path in WORKFLOWS:
        prompt, note, titles = generated[path.name]
        assert same(load(path)) == same(api_to_ui(prompt, object_info, note, titles)), (
            f"{path.name} is stale: run `.venv/bin/python -m devtools.make_workflows`")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_workflow_runs_with_its_cache_and_records_the_skipped_calls(server, object_info, path: Path):
    workflow = load(path)
    notes = [node for node in workflow["nodes"] if node["type"] == "Note"]
    assert len(notes) == 1 and len(notes[0]["widgets_values"][0]) > 100
    prompt = with_seed(ui_to_api(workflow, object_info), next(SEEDS))
    caches = [entry for entry in prompt.values() if entry["class_type"] in CACHE_NODES]
    assert len(caches) == EXPECTED_RUNS.get(path.name, 1)

    before = run_ids(server)
    server.run_prompt(prompt)
    runs = finished_runs_since(server, before, len(caches))

    assert len(runs) == len(caches)
    for run in runs:
        summary = run["summary"]
        assert run["status"] == "ok", run
        assert 0 < summary["computed_calls"] < summary["model_calls"], summary


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_bypassing_the_cache_node_gives_exactly_the_stock_latent(server, object_info, path: Path):
    workflow = load(path)
    targets = cache_node_ids(workflow)
    bypassed = copy.deepcopy(workflow)
    for node in bypassed["nodes"]:
        if node["id"] in targets:
            node["mode"] = 4
    stock = workflow
    for node_id in targets:
        stock = without_node(stock, node_id)
    seed = next(SEEDS)
    stock_prompt = with_seed(ui_to_api(stock, object_info), seed)
    bypassed_prompt = with_seed(ui_to_api(bypassed, object_info), seed)
    # Bypassing rewires exactly as deleting the node would.
    assert bypassed_prompt == stock_prompt

    stock_run = server.run_prompt(with_prefix(stock_prompt, "afterburner_test/stock"))
    # The cached workflow in between drops the stock samplers' outputs from ComfyUI's cache (it keeps the last
    # prompt's only), so the bypassed run below samples again instead of reusing the stock result.
    server.run_prompt(with_seed(ui_to_api(workflow, object_info), seed))
    before = run_ids(server)
    bypassed_run = server.run_prompt(with_prefix(bypassed_prompt, "afterburner_test/bypassed"))

    samplers = {key for key, entry in bypassed_prompt.items() if entry["class_type"] in SAMPLERS}
    assert not samplers & cached_node_ids(bypassed_run), "the bypassed run reused the stock result"
    time.sleep(0.2)
    assert run_ids(server) == before, "a bypassed cache node still installed a cache"
    stock_latent, bypassed_latent = saved_latent(server, stock_run), saved_latent(server, bypassed_run)
    assert stock_latent.dtype == bypassed_latent.dtype and stock_latent.shape == bypassed_latent.shape
    assert torch.equal(stock_latent.view(torch.uint8), bypassed_latent.view(torch.uint8))  # bit for bit
