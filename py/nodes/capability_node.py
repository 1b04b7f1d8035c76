"""What every Afterburner node does around its capability: check the inputs against the schema, build the
request config, install it on a clone, and say what was done."""

from __future__ import annotations

from typing import Any, ClassVar

from comfy_api.latest import io

from .. import capability
from ..telemetry import Notice, get_bus
from .validation import check_inputs


class CapabilityNode(io.ComfyNode):
    """MODEL in, patched MODEL out. A subclass sets TITLE (the node's name without "Afterburner", used in
    messages) and defines `define_schema` and `request(**inputs) -> config`, the config its inputs ask for,
    raising `capability.ConfigError` when they cannot work. (No ABC: ComfyUI locks V3 node classes with a
    metaclass of its own.)
    """

    TITLE: ClassVar[str]

    @classmethod
    def validate_inputs(cls, **inputs: Any) -> bool | str:
        """Run by ComfyUI when a prompt is queued: a bad value refuses the prompt, naming the field."""
        try:
            schema = cls.define_schema()  # not GET_SCHEMA: ComfyUI validates on a locked clone that cannot cache it
            check_inputs(schema, inputs)
            if all(inputs.get(spec.id) is not None for spec in schema.inputs if spec.id != "model"):
                cls.request(**{k: v for k, v in inputs.items() if k != "model"})
        except ValueError as err:
            return f"{cls.TITLE}: {err}"
        return True

    @classmethod
    def execute(cls, model: io.Model.Type, **inputs: Any) -> io.NodeOutput:
        """Install the capability and say what was done (log, sidebar); a request that cannot work here becomes a
        node error that says what to change."""
        try:
            check_inputs(cls.define_schema(), inputs)
            config = cls.request(**inputs)
            patched, report = capability.install(model, config, cls._node_id())
        except ValueError as err:
            get_bus().emit(Notice("error", cls.TITLE, str(err)))
            raise ValueError(f"{cls.TITLE}: {err}") from None
        capability.announce(cls.TITLE, report)
        return io.NodeOutput(patched)

    @classmethod
    def _node_id(cls) -> str | None:
        hidden = getattr(cls, "hidden", None)
        return str(hidden.unique_id) if hidden is not None and hidden.unique_id is not None else None
