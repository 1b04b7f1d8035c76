"""Per-run cache state: created when a sampling run starts, dropped when it ends.

One decision is made per sampler step (every solver evaluation of the step follows it), for all CFG
branches and batch samples together: signals are measured per sample and per branch and reduced with
`max`, never averaged, so one changing sample or branch forces a compute for all (all-or-none rule).
Cached features are kept per cond UUID, so cond and uncond never mix, whether they arrive batched or
in separate calls.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Hashable
from typing import Any

import torch

from ..telemetry import Notice, RunFinished, RunStarted, Step, TelemetryBus
from .config import CacheConfig
from .policies import PolicyState, decide
from .reuse import FeatureHistory

BRANCH_NAMES = {0: "cond", 1: "uncond"}


def relative_change(new: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-sample relative L1 change, shape [batch]."""
    new, ref = new.flatten(1).float(), ref.flatten(1).float()
    return (new - ref).abs().mean(1) / ref.abs().mean(1).clamp_min(1e-8)


class CacheRun:
    """Decisions and cached features of one sampling run."""

    def __init__(self, config: CacheConfig, total_steps: int, model_label: str, bus: TelemetryBus) -> None:
        self.config = config
        self.total_steps = total_steps
        self.bus = bus
        self.run_id = uuid.uuid4().hex[:12]
        self.enabled = total_steps >= config.min_steps
        self.step = 0  # steps the sampler has completed (from its own callback), i.e. the current step
        self._decided_step = -1
        self.compute_now = True
        self._policy_state = PolicyState()
        self._consecutive_reuses = 0
        self._last_signal: float | None = None
        self._reference: dict[Hashable, torch.Tensor] = {}  # what the signal compares against
        self._features: dict[Hashable, FeatureHistory] = {}
        self.model_calls = 0
        self.computed_calls = 0
        self._lock = threading.Lock()  # newer ComfyUI may run CFG chunks in threads
        self._started = time.perf_counter()
        bus.emit(RunStarted(self.run_id, model_label, f"cache:{config.method}", dict(config.params), total_steps))
        if not self.enabled:
            self.notice("info", f"{total_steps} steps is below the {config.min_steps} that caching needs to pay off: "
                                "every step is computed.")

    def notice(self, level: str, message: str) -> None:
        """A message for the user about this run (log, sidebar)."""
        self.bus.emit(Notice(level, f"cache:{self.config.method}", message))

    # --- where the sampler is -------------------------------------------------------------------------

    def step_finished(self, index: int) -> None:
        self.step = index + 1

    @property
    def decided(self) -> bool:
        return self._decided_step == self.step

    def decide_step(self, signal: torch.Tensor | None) -> bool:
        """Decide the current step once (later evaluations of the step follow). `signal`: per-sample values."""
        with self._lock:
            if not self.decided:
                value = float(signal.max()) if signal is not None else None  # the one host sync per step
                if not self.enabled:
                    compute = True
                else:
                    compute = decide(self.config.policy, self.config.guard, self.step, self.total_steps, value,
                                     self._policy_state, self._consecutive_reuses)
                self._consecutive_reuses = 0 if compute else self._consecutive_reuses + 1
                self._last_signal = value
                self._decided_step = self.step
                self.compute_now = compute
            return self.compute_now

    # --- signals --------------------------------------------------------------------------------------

    def change_since(self, key: Hashable, value: torch.Tensor, update: bool) -> torch.Tensor | None:
        """Relative change of `value` against the stored reference for `key`; stores `value` if `update`."""
        ref = self._reference.get(key)
        change = relative_change(value, ref) if ref is not None and ref.shape == value.shape else None
        if update:
            self._reference[key] = value.detach()
        return change

    def input_signal(self, x: torch.Tensor) -> torch.Tensor | None:
        """Change of the model input since the previous step (accumulated by the threshold policy)."""
        return self.change_since("input", x[:, :, ::2, ::2] if x.ndim >= 4 else x, update=True)

    # --- cached features -----------------------------------------------------------------------------

    def feature(self, key: Hashable) -> FeatureHistory:
        history = self._features.get(key)
        if history is None:
            history = self._features[key] = FeatureHistory(self.config.history_depth, self.config.offload)
        return history

    def has_features(self, keys: list[Hashable]) -> bool:
        return all(key in self._features and len(self._features[key]) for key in keys)

    def cache_bytes(self) -> int:
        return sum(history.nbytes() for history in self._features.values())

    # --- accounting -----------------------------------------------------------------------------------

    @property
    def reuse_action(self) -> str:
        return "reused" if self.config.reuse == "default" else "extrapolated"

    def record_call(self, transformer_options: dict[str, Any], computed: bool) -> None:
        """Count one model call (a chunk of branches) and emit one step event per branch."""
        branches = transformer_options.get("cond_or_uncond") or [0]
        sigma = transformer_options.get("sigmas")
        sigma = sigma.reshape(-1)[0] if isinstance(sigma, torch.Tensor) else float("nan")
        with self._lock:
            self.model_calls += len(branches)
            self.computed_calls += len(branches) if computed else 0
        action = "computed" if computed else self.reuse_action
        threshold = getattr(self.config.policy, "threshold", None)
        for branch in branches:
            self.bus.emit(Step(self.run_id, self.step, sigma, BRANCH_NAMES.get(branch, f"cond{branch}"), action,
                               self._last_signal, threshold))

    def finish(self, status: str, message: str = "") -> RunFinished:
        summary = RunFinished(self.run_id, status, self.total_steps, self.model_calls, self.computed_calls,
                              time.perf_counter() - self._started, self.cache_bytes(), message)
        self.bus.emit(summary)
        self._features.clear()
        self._reference.clear()
        return summary
