"""Convert a workflow in ComfyUI's UI (litegraph) format, as the frontend saves it, to an API prompt.

`ui_to_api(workflow, object_info)` does what the frontend's `graphToPrompt` does when you press Queue, without a
browser: widget values are matched to input names with the node definitions from `/object_info`, links become
`[node id, output slot]`, Note/Reroute/PrimitiveNode (frontend-only, "virtual") nodes are dropped, muted nodes
(mode 2) are dropped with every input that pointed at them, and bypassed nodes (mode 4) are dropped with their
consumers rewired to the bypassed node's input of the matching type.

Not handled: subgraphs and legacy group nodes (their types are not in /object_info; a ValueError names them).
"""

from __future__ import annotations

from typing import Any

MODE_NEVER = 2  # "muted": not executed, outputs missing
MODE_BYPASS = 4  # outputs replaced by the node's inputs of the same type

# Nodes that exist only in the frontend.
VIRTUAL_NODES = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
# Input types the frontend draws as widgets (a list as type is a combo); everything else is a socket.
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
# The frontend's legacy rule: INT inputs with these names get a control_after_generate widget.
SEED_NAMES = ("seed", "noise_seed")


def _options(spec: list[Any] | tuple[Any, ...]) -> dict[str, Any]:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _type_name(spec: list[Any] | tuple[Any, ...]) -> str:
    return "COMBO" if isinstance(spec[0], (list, tuple)) else str(spec[0])


def is_widget(spec: list[Any] | tuple[Any, ...]) -> bool:
    """Whether the frontend shows this input as a widget (not only as a socket)."""
    return _type_name(spec) in WIDGET_TYPES and not _options(spec).get("forceInput", False)


def control_values(name: str, spec: list[Any] | tuple[Any, ...]) -> int:
    """How many extra widget values follow this widget: the frontend's control_after_generate widget (plus, on a
    combo, its control_filter_list widget)."""
    options = _options(spec)
    kind = _type_name(spec)
    if "control_after_generate" in options:
        has_control = bool(options["control_after_generate"])
    else:
        has_control = kind == "INT" and name in SEED_NAMES
    if not has_control:
        return 0
    return 2 if kind == "COMBO" else 1


def input_specs(node_info: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """(name, spec) of the required then optional inputs, in the node's declared order (`input_order`)."""
    declared = node_info.get("input", {})
    order = node_info.get("input_order") or {section: list(declared.get(section, {}))
                                             for section in ("required", "optional")}
    specs = []
    for section in ("required", "optional"):
        section_specs = declared.get(section) or {}
        specs += [(name, section_specs[name]) for name in order.get(section, []) if name in section_specs]
    return specs


def widget_slots(node_info: dict[str, Any], skip: frozenset[str] = frozenset()) -> list[str | None]:
    """The names that widgets_values holds, in order; None marks a control_after_generate value."""
    slots: list[str | None] = []
    for name, spec in input_specs(node_info):
        if is_widget(spec) and name not in skip:
            slots += [name] + [None] * control_values(name, spec)
    return slots


def _valid_connection(type_a: Any, type_b: Any) -> bool:
    """litegraph's LiteGraph.isValidConnection: '*' and '' match anything; 'A,B' lists match any member."""
    a = "" if type_a in (None, "*", 0) else str(type_a)
    b = "" if type_b in (None, "*", 0) else str(type_b)
    if not a or not b or a == b:
        return True
    a_set, b_set = set(a.lower().split(",")), set(b.lower().split(","))
    return bool(a_set & b_set)


class _Graph:
    def __init__(self, workflow: dict[str, Any]) -> None:
        self.nodes = {str(node["id"]): node for node in workflow.get("nodes", [])}
        self.links: dict[int, tuple[str, int]] = {}
        for link in workflow.get("links") or []:
            if isinstance(link, dict):
                self.links[int(link["id"])] = (str(link["origin_id"]), int(link["origin_slot"]))
            else:
                self.links[int(link[0])] = (str(link[1]), int(link[2]))

    def resolve_input(self, node: dict[str, Any], index: int, wanted_type: Any, seen: set) -> tuple | None:
        """What input `index` of `node` really receives: ("link", id, slot), ("value", v) or None."""
        key = (str(node["id"]), "in", index)
        if key in seen:
            raise ValueError(f"circular link through node {node['id']} input {index}")
        seen.add(key)
        inputs = node.get("inputs") or []
        if index >= len(inputs) or inputs[index].get("link") is None:
            return None
        link_id = int(inputs[index]["link"])
        if link_id not in self.links:
            raise ValueError(f"node {node['id']} input {inputs[index].get('name')!r} uses missing link {link_id}")
        origin_id, origin_slot = self.links[link_id]
        origin = self.nodes.get(origin_id)
        if origin is None:
            raise ValueError(f"link {link_id} starts at missing node {origin_id}")
        return self.resolve_output(origin, origin_slot, wanted_type if wanted_type is not None
                                   else inputs[index].get("type"), seen)

    def resolve_output(self, node: dict[str, Any], slot: int, wanted_type: Any, seen: set) -> tuple | None:
        key = (str(node["id"]), "out", slot)
        if key in seen:
            raise ValueError(f"circular link through node {node['id']} output {slot}")
        seen.add(key)
        if node.get("mode") == MODE_BYPASS:
            index = self._bypass_input(node, slot, wanted_type)
            return None if index < 0 else self.resolve_input(node, index, wanted_type, seen)
        kind = node.get("type")
        if kind == "PrimitiveNode":
            values = node.get("widgets_values") or []
            return ("value", values[0]) if values else None
        if kind in VIRTUAL_NODES:  # Reroute: pass through its input; notes have none
            return self.resolve_input(node, slot, wanted_type, seen) if node.get("inputs") else None
        return ("link", str(node["id"]), slot)

    @staticmethod
    def _bypass_input(node: dict[str, Any], slot: int, wanted_type: Any) -> int:
        """The frontend's ExecutableNodeDTO#getBypassSlotIndex: same slot index if its type fits, else the first
        input of exactly the wanted type, else the first compatible one; -1 if none."""
        inputs = node.get("inputs") or []
        if not inputs:
            return -1
        if wanted_type in (None, "*", ""):
            return slot if len(inputs) > slot else 0
        outputs = node.get("outputs") or []
        output_type = outputs[slot].get("type") if slot < len(outputs) else wanted_type
        if slot < len(inputs) and _valid_connection(inputs[slot].get("type"), output_type) \
                and _valid_connection(inputs[slot].get("type"), wanted_type):
            return slot
        for index, item in enumerate(inputs):
            if item.get("type") == wanted_type:
                return index
        for index, item in enumerate(inputs):
            if _valid_connection(item.get("type"), output_type) and _valid_connection(item.get("type"), wanted_type):
                return index
        return -1


def _widget_inputs(node: dict[str, Any], node_info: dict[str, Any]) -> dict[str, Any]:
    values = node.get("widgets_values")
    if values is None:
        return {}
    widget_names = {name for name in widget_slots(node_info) if name}
    if isinstance(values, dict):  # some custom nodes save widgets by name
        return {name: value for name, value in values.items() if name in widget_names}
    slots = widget_slots(node_info)
    if len(values) != len(slots):
        # Older saves (and hand-written graphs) may leave out the widgets that were turned into linked inputs.
        linked = frozenset(item.get("name") for item in node.get("inputs") or []
                           if item.get("link") is not None and item.get("name") in widget_names)
        if linked and len(widget_slots(node_info, skip=linked)) == len(values):
            slots = widget_slots(node_info, skip=linked)
    # Like the frontend, assign in order; surplus values (extension widgets) are ignored.
    return {name: value for name, value in zip(slots, values, strict=False) if name is not None}


def _plain_value(value: Any) -> Any:
    # The frontend wraps list values so the server does not take them for links; the server unwraps them.
    return {"__value__": value} if isinstance(value, list) else value


def ui_to_api(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API prompt (`{"<node id>": {"class_type", "inputs", "_meta"}}`) the frontend would queue for `workflow`.

    object_info: the server's `/object_info` (at least the node types the workflow executes).
    """
    graph = _Graph(workflow)
    prompt: dict[str, dict[str, Any]] = {}
    for node_id, node in graph.nodes.items():
        kind = node.get("type")
        if kind in VIRTUAL_NODES or node.get("mode") in (MODE_NEVER, MODE_BYPASS):
            continue
        node_info = object_info.get(kind)
        if node_info is None:
            raise ValueError(f"node {node_id}: type {kind!r} is not in object_info (a missing custom node, a subgraph "
                             "or a group node)")
        inputs = {name: _plain_value(value) for name, value in _widget_inputs(node, node_info).items()}
        for index, item in enumerate(node.get("inputs") or []):
            resolved = graph.resolve_input(node, index, None, set())
            if resolved is None:
                continue
            if resolved[0] == "value":
                inputs[item["name"]] = _plain_value(resolved[1])
            else:
                inputs[item["name"]] = [resolved[1], resolved[2]]
        title = node.get("title") or node_info.get("display_name") or kind
        prompt[node_id] = {"inputs": inputs, "class_type": kind, "_meta": {"title": title}}
    # Inputs fed by muted or otherwise dropped nodes are left out, as the frontend does.
    for entry in prompt.values():
        for name, value in list(entry["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                del entry["inputs"][name]
    return prompt
