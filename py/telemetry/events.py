"""The events Afterburner emits. Each is sent on ComfyUI's websocket as `afterburner.<kind>`.

Fields may hold 0-d tensors where a value is produced on the device (a cache signal, say): converting
them to floats happens on the bus's worker thread, so the sampling thread never waits for them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar, Literal

import torch

from .scope import active_run_id

StepAction = Literal["computed", "reused", "extrapolated"]
RunStatus = Literal["running", "ok", "interrupted", "error"]


def _plain(value: Any) -> Any:
    """JSON-ready copy of an event field: tensors become floats, containers are walked."""
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().cpu()) if value.numel() == 1 else value.detach().cpu().tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def payload(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class RunStarted(Event):
    """A sampling run began on a model that Afterburner patched."""

    kind: ClassVar[str] = "run_started"
    run_id: str
    model: str  # a short label of the model (its class name)
    method: str  # the capability and preset, e.g. "cache:adaptive"
    params: dict[str, Any]  # the settings of the capability installed first, with its node id (see capabilities)
    total_steps: int
    started_at: float = dataclasses.field(default_factory=time.time)
    # each capability taking part: {"label": "cache:adaptive", "params": {...}, "node_id": "7" or None}
    capabilities: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Step(Event):
    """One caching decision for one CFG branch at one solver step."""

    kind: ClassVar[str] = "step"
    run_id: str
    step: int
    sigma: float | torch.Tensor
    branch: str  # "cond", "uncond", or "cond1".. when several positive conds are batched
    action: StepAction
    signal: float | torch.Tensor | None = None
    threshold: float | None = None


@dataclasses.dataclass(frozen=True)
class RunFinished(Event):
    """A sampling run ended (finished, interrupted or failed), with its summary."""

    kind: ClassVar[str] = "run_finished"
    run_id: str
    status: RunStatus
    total_steps: int
    model_calls: int  # solver evaluations x branches that reached the model wrapper
    computed_calls: int  # of which the model really ran (the rest reused or extrapolated)
    wall_s: float
    cache_bytes: int = 0
    message: str = ""
    capabilities: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # each one's summary

    @property
    def compute_fraction(self) -> float:
        return self.computed_calls / self.model_calls if self.model_calls else 1.0

    def payload(self) -> dict[str, Any]:
        return {**super().payload(), "compute_fraction": self.compute_fraction}


@dataclasses.dataclass(frozen=True)
class Compile(Event):
    """A compile or recompile of a model function or block, with the guard that failed as reason."""

    kind: ClassVar[str] = "compile"
    model: str
    target: str
    recompile: bool
    reason: str
    duration_s: float
    count: int
    run_id: str | None = dataclasses.field(default_factory=active_run_id)  # None: outside every sampling run


@dataclasses.dataclass(frozen=True)
class Notice(Event):
    """Something a person should see: a fallback, a disabled feature, an error with its fix."""

    kind: ClassVar[str] = "notice"
    severity: Literal["info", "warning", "error"]
    source: str
    message: str
    at: float = dataclasses.field(default_factory=time.time)
    run_id: str | None = dataclasses.field(default_factory=active_run_id)  # None: outside every sampling run
