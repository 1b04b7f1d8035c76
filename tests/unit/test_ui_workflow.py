"""ui_to_api on small hand-written UI-format graphs, against a hand-written /object_info."""

from __future__ import annotations

import copy

import pytest

from devtools.make_workflows import api_to_ui, without_unlinked_outputs
from devtools.ui_workflow import ui_to_api

# Dict order differs from input_order on purpose: input_order is what the frontend follows.
OBJECT_INFO = {
    "Loader": {
        "input": {"required": {"name": [["a.safetensors", "b.safetensors"], {}],
                               "seed": ["INT", {"default": 0}]}},
        "input_order": {"required": ["name", "seed"]},
        "output": ["MODEL", "CLIP"], "output_name": ["MODEL", "CLIP"], "display_name": "Loader",
    },
    "Cache": {
        "input": {"required": {"speed": ["FLOAT", {"default": 0.5}], "model": ["MODEL", {}]},
                  "optional": {"offload": ["BOOLEAN", {"default": False}]}},
        "input_order": {"required": ["model", "speed"], "optional": ["offload"]},
        "output": ["MODEL"], "output_name": ["MODEL"], "display_name": "Cache",
    },
    "Sampler": {
        "input": {"required": {
            "model": ["MODEL"], "noise_seed": ["INT", {"default": 0, "control_after_generate": True}],
            "steps": ["INT", {"default": 20}], "latent": ["LATENT"], "sampler": [["euler", "heun"]],
            "sigmas": ["FLOAT", {"forceInput": True}]},
            "optional": {"note": ["STRING", {"multiline": True}]}},
        "input_order": {"required": ["model", "noise_seed", "steps", "latent", "sampler", "sigmas"],
                        "optional": ["note"]},
        "output": ["LATENT"], "output_name": ["LATENT"], "display_name": "Sampler",
    },
    "Latent": {
        "input": {"required": {"width": ["INT", {"default": 64}]}},
        "input_order": {"required": ["width"]},
        "output": ["LATENT"], "output_name": ["LATENT"], "display_name": "Latent",
    },
    # A model and a latent in, a model out: bypassing must pick the MODEL input, not slot 0.
    "Mixer": {
        "input": {"required": {"latent": ["LATENT"], "model": ["MODEL"]}},
        "input_order": {"required": ["latent", "model"]},
        "output": ["MODEL"], "output_name": ["MODEL"], "display_name": "Mixer",
    },
    "Knobs": {
        "input": {"required": {
            "seed": ["INT", {"default": 0, "control_after_generate": False}],
            "value": ["INT", {"default": 0, "control_after_generate": True}],
            "choice": ["COMBO", {"options": ["x", "y"], "control_after_generate": True}],
            "seed_text": ["STRING", {}], "seed_float": ["FLOAT", {}], "items": ["STRING", {}]}},
        "input_order": {"required": ["seed", "value", "choice", "seed_text", "seed_float", "items"]},
        "output": [], "output_name": [], "display_name": "Knobs",
    },
    "Save": {
        "input": {"required": {"samples": ["LATENT"], "prefix": ["STRING", {"default": "out"}]},
                  "hidden": {"prompt": "PROMPT"}},
        "input_order": {"required": ["samples", "prefix"], "hidden": ["prompt"]},
        "output": [], "output_name": [], "display_name": "Save",
    },
}


def node(node_id, kind, widgets=(), inputs=(), outputs=(), mode=0, **extra):
    return {"id": node_id, "type": kind, "pos": [0, 0], "size": [300, 100], "flags": {}, "order": 0, "mode": mode,
            "inputs": [{"name": name, "type": kind_, "link": link} for name, kind_, link in inputs],
            "outputs": [{"name": kind_, "type": kind_, "links": [], "slot_index": i}
                        for i, kind_ in enumerate(outputs)],
            "properties": {"Node name for S&R": kind}, "widgets_values": list(widgets), **extra}


def workflow(nodes, links):
    return {"last_node_id": max(n["id"] for n in nodes), "last_link_id": max((link[0] for link in links), default=0),
            "nodes": nodes, "links": [list(link) for link in links], "groups": [], "config": {}, "extra": {},
            "version": 0.4}


def basic_graph(cache_mode=0):
    """loader -> cache -> sampler <- latent; sampler -> save; plus a note."""
    return workflow([
        node(1, "Loader", ["b.safetensors", 7, "fixed"], outputs=["MODEL", "CLIP"]),
        node(2, "Cache", [0.25, True], inputs=[("model", "MODEL", 1)], outputs=["MODEL"], mode=cache_mode),
        node(3, "Latent", [128], outputs=["LATENT"]),
        node(4, "Sampler", [42, "randomize", 12, "heun", "hello"],
             inputs=[("model", "MODEL", 2), ("latent", "LATENT", 3), ("sigmas", "FLOAT", None)],
             outputs=["LATENT"]),
        node(5, "Save", ["run"], inputs=[("samples", "LATENT", 4)]),
        node(6, "Note", ["what this shows"]),
    ], [(1, 1, 0, 2, 0, "MODEL"), (2, 2, 0, 4, 0, "MODEL"), (3, 3, 0, 4, 1, "LATENT"), (4, 4, 0, 5, 0, "LATENT")])


def test_widgets_follow_input_order_and_links_become_node_slot_pairs():
    prompt = ui_to_api(basic_graph(), OBJECT_INFO)
    assert set(prompt) == {"1", "2", "3", "4", "5"}  # the Note is dropped
    assert prompt["1"]["inputs"] == {"name": "b.safetensors", "seed": 7}
    assert prompt["2"] == {"class_type": "Cache", "inputs": {"speed": 0.25, "offload": True, "model": ["1", 0]},
                           "_meta": {"title": "Cache"}}
    assert prompt["4"]["inputs"] == {"noise_seed": 42, "steps": 12, "sampler": "heun", "note": "hello",
                                     "model": ["2", 0], "latent": ["3", 0]}
    assert prompt["5"]["inputs"] == {"prefix": "run", "samples": ["4", 0]}


def test_the_seed_control_widget_value_is_skipped_by_name_or_by_flag():
    graph = workflow([node(1, "Knobs", [5, 6, "randomize", "y", "increment", "", "s", 1.5, "i"])], [])
    # seed: flag says no control; value: flag says control; choice: a combo control adds two widgets
    # (control_after_generate and control_filter_list); seed_text / seed_float: not INT, no control.
    assert ui_to_api(graph, OBJECT_INFO)["1"]["inputs"] == {"seed": 5, "value": 6, "choice": "y", "seed_text": "s",
                                                            "seed_float": 1.5, "items": "i"}
    loader = workflow([node(1, "Loader", ["a.safetensors", 3, "increment"], outputs=["MODEL", "CLIP"])], [])
    assert ui_to_api(loader, OBJECT_INFO)["1"]["inputs"] == {"name": "a.safetensors", "seed": 3}


def test_titles_go_to_meta_and_list_values_are_wrapped():
    graph = workflow([node(1, "Knobs", [0, 0, "fixed", "x", "fixed", "", "", 0.0, ["a", "b"]], title="Mine")], [])
    entry = ui_to_api(graph, OBJECT_INFO)["1"]
    assert entry["_meta"] == {"title": "Mine"}
    assert entry["inputs"]["items"] == {"__value__": ["a", "b"]}


def test_a_muted_node_is_left_out_with_the_inputs_it_fed():
    graph = basic_graph()
    graph["nodes"][2]["mode"] = 2  # the Latent
    prompt = ui_to_api(graph, OBJECT_INFO)
    assert "3" not in prompt
    assert "latent" not in prompt["4"]["inputs"] and prompt["4"]["inputs"]["model"] == ["2", 0]


def test_a_bypassed_node_passes_its_matching_input_through():
    prompt = ui_to_api(basic_graph(cache_mode=4), OBJECT_INFO)
    expected = ui_to_api(basic_graph(), OBJECT_INFO)
    del expected["2"]
    expected["4"]["inputs"]["model"] = ["1", 0]
    assert prompt == expected


def test_bypass_picks_the_input_of_the_same_type_not_the_same_slot_and_follows_chains():
    graph = workflow([
        node(1, "Loader", ["a.safetensors", 0, "fixed"], outputs=["MODEL", "CLIP"]),
        node(2, "Latent", [64], outputs=["LATENT"]),
        node(3, "Mixer", [], inputs=[("latent", "LATENT", 1), ("model", "MODEL", 2)], outputs=["MODEL"], mode=4),
        node(4, "Cache", [0.5, False], inputs=[("model", "MODEL", 3)], outputs=["MODEL"], mode=4),
        node(5, "Sampler", [1, "fixed", 2, "euler", ""], inputs=[("model", "MODEL", 4), ("latent", "LATENT", 5)],
             outputs=["LATENT"]),
    ], [(1, 2, 0, 3, 0, "LATENT"), (2, 1, 0, 3, 1, "MODEL"), (3, 3, 0, 4, 0, "MODEL"), (4, 4, 0, 5, 0, "MODEL"),
        (5, 2, 0, 5, 1, "LATENT")])
    prompt = ui_to_api(graph, OBJECT_INFO)
    assert set(prompt) == {"1", "2", "5"}
    assert prompt["5"]["inputs"]["model"] == ["1", 0] and prompt["5"]["inputs"]["latent"] == ["2", 0]


def test_a_bypassed_node_without_a_matching_input_leaves_the_input_unconnected():
    graph = workflow([
        node(1, "Latent", [64], outputs=["LATENT"]),
        node(2, "Sampler", [1, "fixed", 2, "euler", ""], inputs=[("model", "MODEL", None), ("latent", "LATENT", 1)],
             outputs=["LATENT"], mode=4),
        node(3, "Cache", [0.5, False], inputs=[("model", "MODEL", 2)], outputs=["MODEL"]),
    ], [(1, 1, 0, 2, 1, "LATENT"), (2, 2, 0, 3, 0, "MODEL")])
    # The bypassed sampler's only MODEL input is empty: nothing to pass through, so the input is dropped.
    assert ui_to_api(graph, OBJECT_INFO)["3"]["inputs"] == {"speed": 0.5, "offload": False}


def test_reroutes_pass_through_and_primitives_give_their_value():
    graph = workflow([
        node(1, "Loader", ["a.safetensors", 0, "fixed"], outputs=["MODEL", "CLIP"]),
        node(2, "Reroute", [], inputs=[("", "*", 1)], outputs=["*"]),
        node(3, "PrimitiveNode", [33, "fixed"], outputs=["INT"]),
        node(4, "Latent", [64], outputs=["LATENT"]),
        node(5, "Sampler", [33, "fixed", 9, "euler", ""],
             inputs=[("model", "MODEL", 2), ("latent", "LATENT", 4), ("noise_seed", "INT", 3)], outputs=["LATENT"]),
    ], [(1, 1, 0, 2, 0, "MODEL"), (2, 2, 0, 5, 0, "MODEL"), (3, 3, 0, 5, 2, "INT"), (4, 4, 0, 5, 1, "LATENT")])
    graph["nodes"][4]["inputs"][2]["widget"] = {"name": "noise_seed"}
    inputs = ui_to_api(graph, OBJECT_INFO)["5"]["inputs"]
    assert inputs["model"] == ["1", 0] and inputs["noise_seed"] == 33 and inputs["steps"] == 9


@pytest.mark.parametrize("keeps_linked_widget", [True, False])
def test_a_widget_turned_into_a_linked_input_maps_either_way(keeps_linked_widget: bool):
    """The frontend keeps the linked widget's value in widgets_values; older saves left it out."""
    values = [1, "fixed", 9, "heun", "x"] if keeps_linked_widget else [9, "heun", "x"]
    graph = workflow([
        node(1, "Loader", ["a.safetensors", 0, "fixed"], outputs=["MODEL", "CLIP"]),
        node(2, "Knobs2Int", [77], outputs=["INT"]),
        node(3, "Sampler", values, inputs=[("model", "MODEL", 1), ("noise_seed", "INT", 2)], outputs=["LATENT"]),
    ], [(1, 1, 0, 3, 0, "MODEL"), (2, 2, 0, 3, 1, "INT")])
    info = {**OBJECT_INFO, "Knobs2Int": {"input": {"required": {"v": ["INT", {}]}}, "input_order": {"required": ["v"]},
                                         "output": ["INT"], "output_name": ["INT"]}}
    inputs = ui_to_api(graph, info)["3"]["inputs"]
    assert inputs == {"noise_seed": ["2", 0], "steps": 9, "sampler": "heun", "note": "x", "model": ["1", 0]}


def test_links_saved_as_objects_work_too():
    graph = basic_graph()
    graph["links"] = [{"id": k[0], "origin_id": k[1], "origin_slot": k[2], "target_id": k[3], "target_slot": k[4],
                       "type": k[5]} for k in graph["links"]]
    assert ui_to_api(graph, OBJECT_INFO) == ui_to_api(basic_graph(), OBJECT_INFO)


def test_an_unknown_node_type_is_an_error_unless_it_is_muted():
    graph = basic_graph()
    graph["nodes"].append(node(7, "MissingCustomNode", [1]))
    with pytest.raises(ValueError, match="MissingCustomNode"):
        ui_to_api(graph, OBJECT_INFO)
    graph["nodes"][-1]["mode"] = 2
    assert "7" not in ui_to_api(graph, OBJECT_INFO)


def test_the_input_is_not_modified():
    graph = basic_graph(cache_mode=4)
    before = copy.deepcopy(graph)
    ui_to_api(graph, OBJECT_INFO)
    assert graph == before


def test_make_workflows_layout_converts_back_to_the_same_prompt():
    prompt = {
        "loader": {"class_type": "Loader", "inputs": {"name": "b.safetensors", "seed": 5}},
        "latent": {"class_type": "Latent", "inputs": {"width": 96}},
        "cache": {"class_type": "Cache", "inputs": {"model": ["loader", 0], "speed": 0.3, "offload": False}},
        "sampler": {"class_type": "Sampler", "inputs": {"model": ["cache", 0], "noise_seed": 8, "steps": 4,
                                                         "latent": ["latent", 0], "sampler": "euler", "note": ""}},
        "save": {"class_type": "Save", "inputs": {"samples": ["sampler", 0], "prefix": "p"}},
    }
    ui = api_to_ui(prompt, OBJECT_INFO, note="hello")
    by_type = {n["type"]: n for n in ui["nodes"]}
    assert by_type["Note"]["widgets_values"] == ["hello"]
    assert by_type["Sampler"]["widgets_values"] == [8, "fixed", 4, "euler", ""]
    assert by_type["Loader"]["widgets_values"] == ["b.safetensors", 5, "fixed"]
    xs = [by_type[kind]["pos"][0] for kind in ("Loader", "Cache", "Sampler", "Save")]
    assert xs == sorted(xs) and len(set(xs)) == 4  # left to right
    ids = {key: str(by_type[entry["class_type"]]["id"]) for key, entry in prompt.items()}
    converted = ui_to_api(ui, OBJECT_INFO)
    expected = {ids[key]: {name: [ids[v[0]], v[1]] if isinstance(v, list) else v for name, v in entry["inputs"].items()}
                for key, entry in prompt.items()}
    assert {key: entry["inputs"] for key, entry in converted.items()} == expected


def test_a_node_that_gained_an_unlinked_output_still_compares_equal_without_unlinked_outputs():
    """A newer ComfyUI's SaveLatent returns its samples: the same workflow then has one more, unused, output."""
    prompt = {
        "latent": {"class_type": "Latent", "inputs": {"width": 64}},
        "save": {"class_type": "Save", "inputs": {"samples": ["latent", 0], "prefix": "p"}},
    }
    newer = copy.deepcopy(OBJECT_INFO)
    newer["Save"].update(output=["LATENT"], output_name=["samples"])
    old_ui, new_ui = api_to_ui(prompt, OBJECT_INFO), api_to_ui(prompt, newer)
    assert old_ui != new_ui
    assert without_unlinked_outputs(old_ui) == old_ui  # every output of the old graph is linked
    assert without_unlinked_outputs(new_ui) == old_ui
    assert [n["outputs"] for n in new_ui["nodes"] if n["type"] == "Save"] != [[]]  # the input is not modified
    changed = copy.deepcopy(prompt)
    changed["latent"]["inputs"]["width"] = 96
    assert without_unlinked_outputs(api_to_ui(changed, newer)) != old_ui
