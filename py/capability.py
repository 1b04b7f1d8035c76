"""The installer contract every capability (cache, compile, and those to come) follows.

A node builds a frozen request config (refused at construction when it cannot work on any model: a
`ConfigError` naming the field and what it accepts), then calls `install(model, config)`. The handler
registered for the config's type resolves what this model allows (its plan, with notes), clones the model,
removes what an earlier application of the same capability put on it, patches the clone and returns it
with an `InstallReport`; `announce` turns that report into the log line and the sidebar's notices. This is
torchao's `quantize_(model, config)` shape: one verb, a config type -> handler registry.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from .telemetry import Notice, get_bus

log = logging.getLogger("afterburner")


class ConfigError(ValueError):
    """A request that cannot work on any model; the message names the field and the values it accepts."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


def require_finite(field: str, value: float, low: float, high: float = math.inf) -> None:
    """Refuse a number outside [low, high], NaN and infinities included (they pass every `<` comparison)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        bound = f"from {low:g} to {high:g}" if math.isfinite(high) else f"at least {low:g}"
        raise ConfigError(field, f"must be a finite number {bound}; got {value!r}.")


def require_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(field, f"must be one of {', '.join(allowed)}; got {value!r}.")


class SetupError(ValueError):
    """A request this model cannot honour; the message says what to change."""


class Params(Mapping[str, Any]):
    """A node's inputs, read-only. Unlike `types.MappingProxyType` it survives the deep copy ComfyUI makes of
    model options on every clone (it is immutable, so the copy is itself)."""

    def __init__(self, values: Mapping[str, Any] = ()) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items(), key=lambda item: item[0])))

    def __deepcopy__(self, memo: dict) -> Params:
        return self


@dataclasses.dataclass(frozen=True)
class InstallReport:
    """What an install did, for the node's log line and the sidebar.

    capability: "cache", "compile", ...
    summary: what the model got, in one line.
    warnings: what the user asked for and did not get, with why (each becomes a warning notice).
    info: other things worth a notice (a saved artifact loaded, say).
    """

    capability: str
    summary: str
    warnings: tuple[str, ...] = ()
    info: tuple[str, ...] = ()

    def text(self) -> str:
        return "; ".join((self.summary, *self.warnings))


Config = TypeVar("Config")
Handler = Callable[[Any, Any, "str | None"], "tuple[Any, InstallReport]"]
_HANDLERS: dict[type, Handler] = {}


def handler(config_type: type[Config]) -> Callable[[Handler], Handler]:
    """Register the install function for requests of `config_type`."""
    def register(fn: Handler) -> Handler:
        _HANDLERS[config_type] = fn
        return fn

    return register


def install(model: Any, config: Any, node_id: str | None = None) -> tuple[Any, InstallReport]:
    """A patched clone of `model` (a ModelPatcher) that does what `config` asks, and a report of what it got.

    node_id: the prompt's id of the node asking, so the sidebar can badge it with its runs.
    """
    fn = _HANDLERS.get(type(config))
    if fn is None:
        known = ", ".join(sorted(t.__name__ for t in _HANDLERS)) or "none registered"
        raise TypeError(f"no install handler for {type(config).__name__}; handlers: {known}")
    return fn(model, config, node_id)


def announce(source: str, report: InstallReport) -> None:
    """Log what `source` (a node's title) installed and show its warnings and info in the sidebar."""
    log.info("Afterburner %s: %s", source, report.text())
    bus = get_bus()
    for message in report.warnings:
        bus.emit(Notice("warning", source, message))
    for message in report.info:
        bus.emit(Notice("info", source, message))
