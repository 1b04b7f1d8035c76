"""The pack inside a real ComfyUI server: registration, routes, websocket events, cached workflows."""

from __future__ import annotations

import time

import pytest

from devpack.comfy_boot import comfyui_version
from devtools.comfy_server import ComfyServer, comfyui_dir, wait_until
from devtools.prompts import cache_inputs, sampling_prompt

CACHE_NODES = ("AfterburnerPeriodicCache", "AfterburnerAdaptiveCache", "AfterburnerAutoCache",
               "AfterburnerFirstBlockCache", "AfterburnerBlockCache")


def test_object_info_lists_every_node_with_a_tooltip_on_every_input(server: ComfyServer):
    info = server.get_json("/object_info")
    for node_id in CACHE_NODES:
        node = info[node_id]
        assert node["category"] == "afterburner/cache" and node["description"]
        for name, spec in node["input"]["required"].items():
            assert spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_health_reports_pack_comfyui_torch_and_device(server: ComfyServer):
    health = server.get_json("/afterburner/health")
    # The tree the server runs (0.3.75 from set-up, or COMFYUI_DIR's): make compat runs this on newer ones too.
    assert health["pack"] == "afterburner" and health["comfyui"] == comfyui_version(comfyui_dir())
    assert health["torch"].startswith("2.") and health["device"] == "cpu"
    assert server.get_json("/api/afterburner/health") == health


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=1000", "limit=-3", "limit=2.5"])
def test_runs_rejects_bad_queries_with_a_json_400(server: ComfyServer, query: str):
    status, body = server.request(f"/afterburner/runs?{query}")
    assert status == 400 and "limit" in body["error"]


def test_unknown_run_is_a_json_404(server: ComfyServer):
    status, body = server.request("/afterburner/runs/does-not-exist")
    assert status == 404 and "does-not-exist" in body["error"]


def test_out_of_range_input_is_refused_before_running(server: ComfyServer):
    prompt = sampling_prompt("flux", steps=8, cache=cache_inputs("AfterburnerPeriodicCache", cache_interval=9))
    status, body = server.request("/prompt", {"prompt": prompt, "client_id": server.client_id})
    assert status == 400 and "cache" in body["node_errors"]


@pytest.mark.parametrize(("family", "node", "overrides", "cfg"), [
    ("flux", "AfterburnerAutoCache", {"speed_factor": 0.5}, 1.0),
    ("flux", "AfterburnerFirstBlockCache", {"residual_diff_threshold": 0.8}, 3.0),  # random weights: ~0.4-1.5 a step
    ("sdxl", "AfterburnerPeriodicCache", {}, 4.0),
    ("wan22_low", "AfterburnerAdaptiveCache", {"threshold": 0.05}, 4.0),
])
def test_cached_workflow_runs_and_its_events_match_the_run_record(server, events, family, node, overrides, cfg):
    steps = 12
    server.run_prompt(sampling_prompt(family, steps=steps, cfg=cfg, seed=int(time.time() * 1000) % 100000,
                                      cache=cache_inputs(node, **overrides)))
    finished = wait_until(lambda: events.of_type("afterburner.run_finished"))[-1]
    run_id = finished["run_id"]
    record = server.get_json(f"/afterburner/runs/{run_id}")
    assert record["status"] == "ok" and record["total_steps"] == steps
    assert record["params"]["node_id"] == "cache"  # the prompt's id of the cache node, for its badge
    live_steps = [s for s in events.of_type("afterburner.step") if s["run_id"] == run_id]
    assert len(live_steps) == len(record["steps"]) == finished["model_calls"]
    assert {s["branch"] for s in live_steps} == ({"cond"} if cfg == 1.0 else {"cond", "uncond"})
    computed = sum(s["action"] == "computed" for s in record["steps"])
    assert computed == finished["computed_calls"] < finished["model_calls"]
    assert [s["run_id"] for s in events.of_type("afterburner.run_started")][-1] == run_id
    assert server.get_json("/afterburner/runs?limit=1")["runs"][0]["run_id"] == run_id


def test_a_setup_error_names_the_problem_and_the_server_goes_on(server: ComfyServer):
    bad = sampling_prompt("sdxl", steps=8, cache=cache_inputs("AfterburnerBlockCache", skip_double_blocks="1"))
    with pytest.raises(RuntimeError, match="no block replacement"):
        server.run_prompt(bad)
    server.run_prompt(sampling_prompt("sdxl", steps=8, seed=7, cache=cache_inputs("AfterburnerPeriodicCache")))
