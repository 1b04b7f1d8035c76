"""A prompt with a value a node cannot use is refused at `POST /prompt`, naming the field and what it accepts,
for every node; and two samplers in one prompt are two runs."""

from __future__ import annotations

import json
import math
import urllib.request

import pytest

from devtools.comfy_server import ComfyServer, wait_until
from devtools.prompts import cache_inputs, sampling_prompt

CACHE_NODES = ("AfterburnerPeriodicCache", "AfterburnerAdaptiveCache", "AfterburnerAutoCache",
               "AfterburnerFirstBlockCache", "AfterburnerBlockCache")
COMPILE_INPUTS = {"backend": "inductor", "mode": "default", "dynamic": "auto", "fullgraph": False,
                  "scope": "per block", "save_compiled": False}


def post_prompt(server: ComfyServer, prompt: dict) -> tuple[int, dict]:
    """POST /prompt with Python's JSON, which writes NaN and Infinity as ComfyUI's parser reads them."""
    body = json.dumps({"prompt": prompt, "client_id": server.client_id}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/prompt", body,
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def refusal(server: ComfyServer, prompt: dict, node: str) -> str:
    """The refusal text for `node`; fails when the prompt is accepted."""
    status, body = post_prompt(server, prompt)
    assert status == 400, f"accepted: {body}"
    errors = body["node_errors"][node]["errors"]
    return " ".join(f"{e['message']} {e['details']}" for e in errors)


def number_inputs(server: ComfyServer, node_id: str) -> dict[str, str]:
    """{input name: "INT" or "FLOAT"}."""
    required = server.get_json(f"/object_info/{node_id}")[node_id]["input"]["required"]
    return {name: spec[0] for name, spec in required.items() if spec[0] in ("INT", "FLOAT")}


@pytest.mark.parametrize("node_id", CACHE_NODES)
def test_a_non_finite_number_is_refused_for_every_number_input(server: ComfyServer, node_id: str):
    """FLOAT inputs are checked by the node (NaN passes ComfyUI's min/max comparisons); INT inputs are refused
    by ComfyUI's own conversion to int, which names the input too."""
    inputs = number_inputs(server, node_id)
    assert inputs
    for name, kind in inputs.items():
        for bad in (math.nan, math.inf, -math.inf):
            prompt = sampling_prompt("flux", steps=8, cache=cache_inputs(node_id, **{name: bad}))
            text = refusal(server, prompt, "cache")
            assert name in text and (kind == "INT" or "finite number from" in text), text


@pytest.mark.parametrize("node_id", CACHE_NODES)
def test_a_cache_mode_the_node_does_not_offer_is_refused(server: ComfyServer, node_id: str):
    prompt = sampling_prompt("flux", steps=8, cache=cache_inputs(node_id, cache_mode="magic"))
    text = refusal(server, prompt, "cache")
    assert "cache_mode" in text and "default, taylor, adams_bashforth" in text and "magic" in text, text


@pytest.mark.parametrize(("field", "value"), [("backend", "tensorrt"), ("scope", "everything"),
                                              ("dynamic", "maybe"), ("mode", "fastest")])
def test_compile_refuses_an_option_it_does_not_offer(server: ComfyServer, field: str, value: str):
    prompt = sampling_prompt("flux", steps=8, cache=("AfterburnerCompile", {**COMPILE_INPUTS, field: value}))
    text = refusal(server, prompt, "cache")
    assert field in text and value in text and "must be one of" in text, text


def test_a_start_after_end_is_refused_naming_both(server: ComfyServer):
    prompt = sampling_prompt("flux", steps=8, cache=cache_inputs("AfterburnerFirstBlockCache", start=0.8, end=0.2))
    text = refusal(server, prompt, "cache")
    assert "start" in text and "end" in text, text


def test_two_samplers_in_one_prompt_are_two_runs(server: ComfyServer, events):
    prompt = sampling_prompt("flux", steps=6, seed=11, cache=cache_inputs("AfterburnerAutoCache"))
    prompt["sampler2"] = {**prompt["sampler"], "inputs": {**prompt["sampler"]["inputs"], "seed": 12}}
    prompt["save2"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sampler2", 0],
                                                              "filename_prefix": "afterburner/two_samplers"}}
    server.run_prompt(prompt)
    finished = wait_until(lambda: len(events.of_type("afterburner.run_finished")) >= 2 or None)
    assert finished
    started = events.of_type("afterburner.run_started")[-2:]
    assert len({s["run_id"] for s in started}) == 2
    for run in started:
        record = server.get_json(f"/afterburner/runs/{run['run_id']}")
        assert record["status"] == "ok" and record["capabilities"]["cache"]["node_id"] == "cache"
