"""Regenerate the example workflows in workflows/ (UI format, what ComfyUI's Load and drag-and-drop take).

    .venv/bin/python -m devtools.make_workflows            # starts a ComfyUI server for /object_info
    .venv/bin/python -m devtools.make_workflows --url http://127.0.0.1:8188

Each workflow is written as an API prompt (the same shape as devtools.prompts) and laid out from the server's
/object_info: widget values in the order the frontend expects (the node's `input_order`, required then optional,
sockets left out, a control_after_generate value after each seed), nodes in columns left to right by depth.
All run on the dev pack's tiny models, so they work right after `make run`, on CPU, in seconds.

The committed files are generated on the ComfyUI that set-up installs (GENERATED_ON). A newer ComfyUI can give a node
an output that nothing here links to (SaveLatent returns its `samples` in 0.33.0, not yet in 0.20.1);
`without_unlinked_outputs` is the form in which workflows generated on different ComfyUI versions still compare equal.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from .comfy_server import REPO, ComfyServer
from .prompts import Prompt, cache_inputs, sampling_prompt
from .ui_workflow import control_values, input_specs, is_widget

WORKFLOWS_DIR = REPO / "workflows"
GENERATED_ON = "0.3.75"  # the ComfyUI whose /object_info workflows/*.json are generated from (set-up's default)

COLUMN_GAP = 60
ROW_GAP = 60  # node sizes leave out the title bar (30 px, drawn above pos)
LEFT, TOP = 50, 60
NOTE_SIZE = (440, 260)
NODE_WIDTH = {"AfterburnerBlockCache": 380, "AfterburnerFirstBlockCache": 380}
DEFAULT_WIDTH = 320
SLOT_HEIGHT = 20
WIDGET_HEIGHT = 24

# control_after_generate values: sampler seeds change after each queued run (so pressing Queue again runs and
# shows a new run in the sidebar); the tiny models' weight and conditioning seeds stay fixed.
SAMPLER_SEED_CONTROL = "randomize"
OTHER_SEED_CONTROL = "fixed"
SAMPLERS = ("KSampler", "KSamplerAdvanced")


# --- the workflows ---------------------------------------------------------------------------------------------

def _single(family: str, cache: tuple[str, dict[str, Any]], *, steps: int, cfg: float, seed: int) -> Prompt:
    prompt = sampling_prompt(family, steps=steps, cfg=cfg, seed=seed, size=64, cache=cache)
    prompt["save"]["inputs"]["filename_prefix"] = f"afterburner/{cache[0].removeprefix('Afterburner').lower()}"
    return prompt


def wan22_two_experts(steps: int = 16, switch_at: int = 8, cfg: float = 4.0, seed: int = 22,
                      cache: tuple[str, dict[str, Any]] | None = None) -> Prompt:
    """Wan 2.2 A14B style: the high-noise expert denoises the first steps and hands its noisy latent to the
    low-noise expert for the rest; each expert has its own cache node (its own run in the sidebar)."""
    cache = cache or cache_inputs("AfterburnerAdaptiveCache", threshold=0.12, max_skip_steps=3)
    prompt: Prompt = {
        "model_high": {"class_type": "AfterburnerDevTinyModel", "inputs": {"family": "wan22_high", "seed": 0}},
        "model_low": {"class_type": "AfterburnerDevTinyModel", "inputs": {"family": "wan22_low", "seed": 0}},
        "cache_high": {"class_type": cache[0], "inputs": {"model": ["model_high", 0], **cache[1]}},
        "cache_low": {"class_type": cache[0], "inputs": {"model": ["model_low", 0], **cache[1]}},
        "positive": {"class_type": "AfterburnerDevTinyConditioning",
                     "inputs": {"family": "wan22_high", "seed": 1, "batch": 1}},
        "negative": {"class_type": "AfterburnerDevTinyConditioning",
                     "inputs": {"family": "wan22_high", "seed": 2, "batch": 1}},
        "latent": {"class_type": "AfterburnerDevTinyLatent",
                   "inputs": {"family": "wan22_high", "width": 64, "height": 64, "frames": 5, "batch": 1}},
    }
    shared = {"noise_seed": seed, "steps": steps, "cfg": cfg, "sampler_name": "euler", "scheduler": "simple",
              "positive": ["positive", 0], "negative": ["negative", 0]}
    prompt["sampler_high"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["cache_high", 0], "add_noise": "enable", **shared, "latent_image": ["latent", 0],
        "start_at_step": 0, "end_at_step": switch_at, "return_with_leftover_noise": "enable"}}
    prompt["sampler_low"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["cache_low", 0], "add_noise": "disable", **shared, "latent_image": ["sampler_high", 0],
        "start_at_step": switch_at, "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    prompt["save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sampler_low", 0],
                                                             "filename_prefix": "afterburner/wan22_adaptive"}}
    return prompt


NOTES = {
    "auto": """Afterburner Auto Cache on a tiny Flux model (dev pack, random weights: the output is noise; what counts \
is what the cache did).

Auto Cache takes a budget instead of a threshold: speed_factor 0.5 computes about half of the model evaluations \
and spends them on the steps where the model input changes most. The first and last steps are always computed; \
1.0 is exactly stock.

Queue it and open the Afterburner sidebar: the run shows which steps were computed and which reused. For a real \
model, replace the three Tiny nodes with your loader, text encoder and empty latent.""",
    "first_block": """Afterburner First Block Cache on a tiny Flux model (WaveSpeed style).

The first transformer block always runs. When its residual changed less than residual_diff_threshold since the \
last computed step, the remaining blocks are skipped and their cached contribution is reused. start/end keep \
the first and last fraction of the steps fully computed; max_consecutive_cache_hits caps reuse in a row \
(-1: no cap). The threshold is 0.8 here because this tiny model has random weights: its first-block residual \
changes by 40-150% a step. On a real Flux model 0.08-0.12 is typical; lower is closer to stock.

Queue it and watch the computed/skipped steps in the Afterburner sidebar.""",
    "periodic": """Afterburner Periodic Cache (FORA) on a tiny SDXL UNet, with CFG (cond and uncond branches).

After start_step computed steps, only every cache_interval-th step is computed and the others reuse the last \
output: a fixed, predictable speed-up with no signal to compute (interval 2 halves the model work after the \
start). cache_mode taylor extrapolates instead of repeating, which holds up better at larger intervals.

Queue it: the sidebar shows the regular computed/reused pattern for both CFG branches.""",
    "wan22": """Wan 2.2 A14B style two-expert sampling on tiny Wan models, each expert with its own Adaptive Cache.

The high-noise expert (wan22_high) runs steps 0-8 of 16 and returns its latent with the leftover noise; the \
low-noise expert (wan22_low) finishes steps 8-16 without adding noise. Each expert gets its own cache node, so \
each keeps its own cache and shows up as its own run in the Afterburner sidebar.

Adaptive Cache reuses the output while the accumulated relative change of the model input stays under \
threshold; max_skip_steps caps how many steps are reused in a row. Swap in Auto Cache (speed_factor) for a \
fixed budget per expert.""",
    "multi_block": """Afterburner Multi-Block Cache on a tiny Flux model (cache-dit's DBCache).

The first first_blocks blocks always run and their residual decides; the last last_blocks blocks always run \
and refine what the cache returns; only the middle is cached. skip_double_blocks / skip_single_blocks remove \
blocks on every step (e.g. '3,6,8'; empty skips none). The threshold is 0.8 here because this tiny model has \
random weights and its residual changes by 40-150% a step; on a real Flux model 0.08-0.12 is typical.

Queue it and compare computed vs reused steps in the Afterburner sidebar; set last_blocks 0 and first_blocks 1 \
for plain First Block Cache.""",
}


def workflow_prompts() -> dict[str, tuple[Prompt, str, dict[str, str]]]:
    """file name -> (API prompt, note text, titles by prompt node id)."""
    return {
        "afterburner_auto_cache_flux.json": (
            _single("flux", cache_inputs("AfterburnerAutoCache", speed_factor=0.5), steps=20, cfg=1.0, seed=1),
            NOTES["auto"], {}),
        "afterburner_first_block_cache_flux.json": (
            _single("flux", cache_inputs("AfterburnerFirstBlockCache", residual_diff_threshold=0.8,
                                              max_consecutive_cache_hits=3), steps=20, cfg=1.0, seed=2),
            NOTES["first_block"], {}),
        "afterburner_periodic_cache_sdxl.json": (
            _single("sdxl", cache_inputs("AfterburnerPeriodicCache", cache_interval=2, start_step=2), steps=20,
                    cfg=4.0, seed=3),
            NOTES["periodic"], {}),
        "afterburner_adaptive_cache_wan22.json": (
            wan22_two_experts(), NOTES["wan22"],
            {"model_high": "Tiny Wan 2.2 high-noise expert", "model_low": "Tiny Wan 2.2 low-noise expert",
             "cache_high": "Adaptive Cache (high-noise expert)", "cache_low": "Adaptive Cache (low-noise expert)",
             "sampler_high": "High-noise expert: steps 0-8", "sampler_low": "Low-noise expert: steps 8-16"}),
        "afterburner_multi_block_cache_flux.json": (
            _single("flux", cache_inputs("AfterburnerBlockCache", first_blocks=1, last_blocks=1,
                                         residual_diff_threshold=0.8, max_consecutive_cache_hits=3),
            steps=20, cfg=1.0, seed=5),
            NOTES["multi_block"], {}),
    }


# --- API prompt -> UI workflow -----------------------------------------------------------------------------------

def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _depths(prompt: Prompt) -> dict[str, int]:
    """Longest distance from a source node: the column each node goes in."""
    depth: dict[str, int] = {}

    def visit(node_id: str, trail: tuple[str, ...] = ()) -> int:
        if node_id in trail:
            raise ValueError(f"cycle through {node_id}")
        if node_id not in depth:
            parents = [v[0] for v in prompt[node_id]["inputs"].values() if _is_link(v)]
            depth[node_id] = 1 + max((visit(p, (*trail, node_id)) for p in parents), default=-1)
        return depth[node_id]

    for node_id in prompt:
        visit(node_id)
    return depth


def _control_value(class_type: str) -> str:
    return SAMPLER_SEED_CONTROL if class_type in SAMPLERS else OTHER_SEED_CONTROL


def api_to_ui(prompt: Prompt, object_info: dict[str, Any], note: str = "",
              titles: dict[str, str] | None = None) -> dict[str, Any]:
    """A UI-format workflow that the frontend loads as the graph of `prompt` (and queues as `prompt` again)."""
    titles = titles or {}
    depth = _depths(prompt)
    order = sorted(prompt, key=lambda k: (depth[k], list(prompt).index(k)))
    numbers = {key: index for index, key in enumerate(order, start=1)}

    nodes: dict[str, dict[str, Any]] = {}
    for key in order:
        entry = prompt[key]
        info = object_info[entry["class_type"]]
        sockets, widgets = [], []
        for name, spec in input_specs(info):
            if is_widget(spec):
                if _is_link(entry["inputs"].get(name)):
                    raise ValueError(f"{key}.{name}: a link into a widget input; only widget values are laid out")
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                value = entry["inputs"].get(name, options.get("default"))
                widgets.append(value)
                widgets += [_control_value(entry["class_type"])] * control_values(name, spec)
            else:
                sockets.append({"name": name, "type": spec[0], "link": None})
        outputs = [{"name": out_name, "type": out_type, "links": [], "slot_index": slot}
                   for slot, (out_type, out_name) in enumerate(zip(info["output"], info["output_name"], strict=True))]
        widget_count = len(widgets)  # control_after_generate widgets take a row too
        height = max(len(sockets), len(outputs)) * SLOT_HEIGHT + widget_count * WIDGET_HEIGHT + 10
        node = {"id": numbers[key], "type": entry["class_type"], "pos": [0, 0],
                "size": [NODE_WIDTH.get(entry["class_type"], DEFAULT_WIDTH), height], "flags": {},
                "order": numbers[key] - 1, "mode": 0, "inputs": sockets, "outputs": outputs,
                "properties": {"Node name for S&R": entry["class_type"]}, "widgets_values": widgets}
        if key in titles:
            node["title"] = titles[key]
        nodes[key] = node

    links = []
    for key in order:
        node = nodes[key]
        for slot_index, socket in enumerate(node["inputs"]):
            value = prompt[key]["inputs"].get(socket["name"])
            if not _is_link(value):
                continue
            origin = nodes[value[0]]
            link_id = len(links) + 1
            socket["link"] = link_id
            origin["outputs"][value[1]]["links"].append(link_id)
            links.append([link_id, origin["id"], value[1], node["id"], slot_index, origin["outputs"][value[1]]["type"]])

    # Columns left to right by depth, each column stacked from the top.
    x = LEFT
    for column in range(max(depth.values()) + 1):
        members = [key for key in order if depth[key] == column]
        y = TOP + (NOTE_SIZE[1] + ROW_GAP if note else 0)
        for key in members:
            nodes[key]["pos"] = [x, y]
            y += nodes[key]["size"][1] + ROW_GAP
        x += max(nodes[key]["size"][0] for key in members) + COLUMN_GAP

    ui_nodes = list(nodes.values())
    if note:
        ui_nodes.append({"id": len(ui_nodes) + 1, "type": "Note", "pos": [LEFT, TOP], "size": list(NOTE_SIZE),
                         "flags": {}, "order": len(ui_nodes), "mode": 0, "inputs": [], "outputs": [],
                         "title": "About this workflow", "properties": {"text": ""}, "widgets_values": [note],
                         "color": "#432", "bgcolor": "#653"})
    return {"last_node_id": len(ui_nodes), "last_link_id": len(links), "nodes": ui_nodes, "links": links,
            "groups": [], "config": {}, "extra": {}, "version": 0.4}


def without_unlinked_outputs(workflow: dict[str, Any]) -> dict[str, Any]:
    """A copy of a UI workflow without the node outputs that no link leaves from: the same graph, whatever outputs a
    ComfyUI version gives a node beyond those the workflow uses. Node sizes and everything else are kept."""
    workflow = copy.deepcopy(workflow)
    for node in workflow["nodes"]:
        node["outputs"] = [output for output in node["outputs"] if output.get("links")]
    return workflow


def write_workflows(object_info: dict[str, Any], directory: Path = WORKFLOWS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (prompt, note, titles) in workflow_prompts().items():
        path = directory / name
        path.write_text(json.dumps(api_to_ui(prompt, object_info, note, titles), indent=2) + "\n")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Regenerate workflows/*.json from API prompts and /object_info.")
    parser.add_argument("--url", help="a running ComfyUI with Afterburner and its dev pack (default: start one)")
    parser.add_argument("--out", type=Path, default=WORKFLOWS_DIR)
    args = parser.parse_args()
    if args.url:
        base = args.url.rstrip("/")
        with urllib.request.urlopen(base + "/object_info", timeout=30) as resp:
            object_info = json.loads(resp.read())
        with urllib.request.urlopen(base + "/system_stats", timeout=30) as resp:
            version = json.loads(resp.read())["system"].get("comfyui_version")
    else:
        with ComfyServer() as server:
            object_info = server.get_json("/object_info")
            version = server.get_json("/system_stats")["system"].get("comfyui_version")
    if version != GENERATED_ON and args.out.resolve() == WORKFLOWS_DIR.resolve():
        print(f"note: workflows/ are generated on ComfyUI {GENERATED_ON}, this server runs {version}: the files may "
              f"differ from the committed ones in ways that do not matter (see without_unlinked_outputs)",
              file=sys.stderr)
    for path in write_workflows(object_info, args.out):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


if __name__ == "__main__":
    main()
