"""Per-run records, folded from events, so a page opened mid-run (or after it) can catch up."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from .events import Compile, Event, Notice, RunFinished, RunStarted, Step


@dataclasses.dataclass
class RunRecord:
    """Everything known about one sampling run; mutable, owned by the bus's worker thread."""

    run_id: str
    model: str
    method: str
    params: dict[str, Any]
    total_steps: int
    started_at: float
    capabilities: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    status: str = "running"
    steps: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    compiles: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # the compiles during this run
    notices: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # the notices during this run
    summary: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RunHistory:
    """The most recent runs, plus the process-wide history of compile events and notices (each also in the record
    of the run it happened in). Not thread-safe: the bus serialises access."""

    def __init__(self, max_runs: int = 50, max_events: int = 200) -> None:
        self._runs: collections.OrderedDict[str, RunRecord] = collections.OrderedDict()
        self._max_runs = max_runs
        self.compiles: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_events)
        self.notices: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_events)

    def apply(self, event: Event, payload: dict[str, Any]) -> None:
        if isinstance(event, RunStarted):
            self._runs[event.run_id] = RunRecord(
                event.run_id, event.model, event.method, payload["params"], event.total_steps, event.started_at,
                payload["capabilities"])
            while len(self._runs) > self._max_runs:
                self._runs.popitem(last=False)
        elif isinstance(event, Step):
            if (run := self._runs.get(event.run_id)) is not None:
                run.steps.append({k: v for k, v in payload.items() if k != "run_id"})
        elif isinstance(event, RunFinished):
            if (run := self._runs.get(event.run_id)) is not None:
                run.status = event.status
                run.summary = {k: v for k, v in payload.items() if k not in ("run_id", "status")}
        elif isinstance(event, Compile):
            self.compiles.append(payload)
            if (run := self._runs.get(event.run_id)) is not None:
                run.compiles.append(payload)
        elif isinstance(event, Notice):
            self.notices.append(payload)
            if (run := self._runs.get(event.run_id)) is not None:
                run.notices.append(payload)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """Newest first."""
        return [run.to_json() for run in reversed(list(self._runs.values())[-limit:])] if limit > 0 else []

    def get(self, run_id: str) -> dict[str, Any] | None:
        run = self._runs.get(run_id)
        return run.to_json() if run else None
