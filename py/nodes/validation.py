"""Node inputs checked against their own schema before anything runs, so a bad value sent through the API
(`POST /prompt`) is refused with a message that names the field and what it accepts.

A node that defines `validate_inputs(**kwargs)` takes over ComfyUI's own range and option checks for all its
inputs, so these checks cover them all, NaN and infinities too (which pass ComfyUI's `<`/`>` comparisons).
"""

from __future__ import annotations

import math
from typing import Any

from comfy_api.latest import io

from ..capability import ConfigError


def check_inputs(schema: io.Schema, values: dict[str, Any]) -> None:
    """Raise `ConfigError` for the first value outside what its input accepts. Inputs without a value (linked
    from another node, so unknown before the graph runs) are left to the node's execution."""
    for spec in schema.inputs:
        value = values.get(spec.id)
        if value is None:
            continue
        if isinstance(spec, io.Combo.Input):
            if value not in spec.options:
                raise ConfigError(spec.id, f"must be one of {', '.join(map(str, spec.options))}; got {value!r}.")
        elif isinstance(spec, (io.Float.Input, io.Int.Input)):
            _check_number(spec, value)
        elif isinstance(spec, io.Boolean.Input) and not isinstance(value, bool):
            raise ConfigError(spec.id, f"must be true or false; got {value!r}.")


def _check_number(spec: io.Float.Input | io.Int.Input, value: Any) -> None:
    low = spec.min if spec.min is not None else -math.inf
    high = spec.max if spec.max is not None else math.inf
    kind = "an integer" if isinstance(spec, io.Int.Input) else "a finite number"
    wrong_type = isinstance(value, bool) or not isinstance(value, (int, float))
    if isinstance(spec, io.Int.Input) and isinstance(value, float) and not value.is_integer():
        wrong_type = True
    if wrong_type or not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(spec.id, f"must be {kind} from {low:g} to {high:g}; got {value!r}.")
