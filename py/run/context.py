"""One sampling run (one `comfy.sample` call) and the capabilities taking part in it.

A capability's install leaves an `Enrollment` in the patched model's options; when the model samples, the
run's OUTER_SAMPLE wrapper (`wrappers.py`) makes a `SamplingRun`, asks each enrollment for its per-run
state (its `Participant`), and drops them all when sampling ends, however it ends. Nothing per run is kept
on the model, so two samplers in one graph, or the same model in two prompts, never share state.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

from ..telemetry import RunFinished, RunStarted, TelemetryBus

ENROLLMENTS_KEY = "afterburner"  # {capability: Enrollment}, in the patched model's model_options
RUN_KEY = "afterburner_run"  # the live SamplingRun, in the run's own copy of transformer_options


class Participant(Protocol):
    """A capability's state for one run."""

    def begin(self) -> None:
        """The run has started (its RunStarted event is out): say what the user should know about it."""

    def finish(self, status: str) -> Mapping[str, Any]:
        """The run has ended with `status`: free what it held, return its summary for the run's record."""


@dataclasses.dataclass(frozen=True)
class Enrollment:
    """What a capability's install leaves on the model so that each of its runs takes the capability in.

    label: how the run names it, e.g. "cache:adaptive" or "compile".
    params: the request's settings as the user set them, read-only (a cache node's inputs, a compile config's
        fields).
    node_id: the prompt's id of the node that installed it (the sidebar badges that node), if known.
    start: makes the capability's state for one run. A plain function (ComfyUI deep-copies model options;
        functions are copied by reference, so whatever they close over is not duplicated).
    """

    label: str
    params: Mapping[str, Any]
    node_id: str | None
    start: Callable[[SamplingRun], Participant]


class SamplingRun:
    """The run id, the steps, where the sampler is, and the participants of one sampling run."""

    def __init__(self, model_label: str, sigmas: torch.Tensor, model_options: dict[str, Any],
                 bus: TelemetryBus) -> None:
        self.run_id = uuid.uuid4().hex[:12]
        self.model_label = model_label
        self.model_options = model_options  # the run's own copy, which every wrapper of the run sees
        self.sigmas = sigmas
        self.total_steps = int(sigmas.shape[-1]) - 1
        self.step = 0  # steps the sampler has completed (from its own callback), i.e. the current step
        self.bus = bus
        self.participants: dict[str, Participant] = {}
        self._enrollments: dict[str, Enrollment] = {}
        self._started = time.perf_counter()

    @property
    def sigma(self) -> torch.Tensor:
        """The current step's sigma (a 0-d tensor on the sampling device: reading it never syncs)."""
        return self.sigmas[min(self.step, self.total_steps)]

    def step_finished(self, index: int) -> None:
        self.step = index + 1

    def participant(self, capability: str) -> Any:
        """The state of `capability` in this run, or None when it takes no part."""
        return self.participants.get(capability)

    def begin(self, enrollments: Mapping[str, Enrollment]) -> None:
        """Take the enrolled capabilities in and announce the run."""
        self._enrollments = dict(enrollments)
        self.participants = {name: enrollment.start(self) for name, enrollment in self._enrollments.items()}
        first = next(iter(self._enrollments.values()))
        capabilities = {name: {"label": e.label, "params": dict(e.params), "node_id": e.node_id}
                        for name, e in self._enrollments.items()}
        params = {**first.params, **({"node_id": first.node_id} if first.node_id is not None else {})}
        self.bus.emit(RunStarted(self.run_id, self.model_label, " + ".join(e.label for e in self._enrollments.values()),
                                 params, self.total_steps, capabilities=capabilities))
        for participant in self.participants.values():
            participant.begin()

    def finish(self, status: str, message: str = "") -> RunFinished:
        summaries = {name: dict(participant.finish(status)) for name, participant in self.participants.items()}
        # The record's call counts are the cache's: its wrapper is the one that sees every model call.
        cache = summaries.get("cache", {})
        summary = RunFinished(self.run_id, status, self.total_steps, cache.get("model_calls", 0),
                              cache.get("computed_calls", 0), time.perf_counter() - self._started,
                              cache.get("cache_bytes", 0), message, summaries)
        self.bus.emit(summary)
        self.participants.clear()
        return summary

