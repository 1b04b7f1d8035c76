"""The cache's part in one sampling run: its decisions and cached features, dropped when the run ends.

One decision is made per sampler step (every solver evaluation of the step follows it), for all CFG
branches and batch samples together: signals are measured per sample and per branch and reduced with
`max`, never averaged, so one changing sample or branch forces a compute for all (all-or-none rule).
Cached features are kept per cond UUID, so cond and uncond never mix, whether they arrive batched or
in separate calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from typing import Any

import torch

from .. import comfy_glue
from ..run import SamplingRun
from ..telemetry import Notice, Step
from .plan import CachePlan
from .policies import PolicyState, decide
from .reuse import FeatureHistory

BRANCH_NAMES = {0: "cond", 1: "uncond"}
log = logging.getLogger("afterburner")


def relative_change(new: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-sample relative L1 change, shape [batch]."""
    new, ref = new.flatten(1).float(), ref.flatten(1).float()
    return (new - ref).abs().mean(1) / ref.abs().mean(1).clamp_min(1e-8)


class CacheRun:
    """Decisions and cached features of the cache in one sampling run (the run's "cache" participant)."""

    def __init__(self, plan: CachePlan, run: SamplingRun) -> None:
        self.plan = plan
        self.config = plan.config
        self.run = run
        self.enabled = run.total_steps >= self.config.min_steps
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

    def begin(self) -> None:
        if not self.enabled:
            self.notice("info", f"{self.run.total_steps} steps is below the {self.config.min_steps} that caching "
                                "needs to pay off: every step is computed.")
        if comfy_glue.core_compile_applied(self.run.model_options):
            self.notice("warning", "ComfyUI's TorchCompileModel compiles the whole model around the cache's "
                                   "decisions, so under the cache the model runs uncompiled. Use Afterburner Compile "
                                   "instead: it compiles the blocks the cache runs.")

    def notice(self, level: str, message: str) -> None:
        """A message for the user about this run (log, sidebar)."""
        self.run.bus.emit(Notice(level, f"cache:{self.config.method}", message, run_id=self.run.run_id))

    # --- where the sampler is -------------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.run.step

    @property
    def decided(self) -> bool:
        return self._decided_step == self.run.step

    def decide_step(self, signal: torch.Tensor | None) -> bool:
        """Decide the current step once (later evaluations of the step follow). `signal`: per-sample values."""
        with self._lock:
            if not self.decided:
                value = float(signal.max()) if signal is not None else None  # the one host sync per step
                if not self.enabled:
                    compute = True
                else:
                    compute = decide(self.config.policy, self.config.guard, self.step, self.run.total_steps, value,
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
            self.run.bus.emit(Step(self.run.run_id, self.step, sigma, BRANCH_NAMES.get(branch, f"cond{branch}"),
                                   action, self._last_signal, threshold))

    def finish(self, status: str) -> dict[str, Any]:
        summary = {"model_calls": self.model_calls, "computed_calls": self.computed_calls,
                   "cache_bytes": self.cache_bytes()}
        self._features.clear()
        self._reference.clear()
        fraction = self.computed_calls / self.model_calls if self.model_calls else 1.0
        log.info("Afterburner cache (%s): computed %d/%d model calls (%.0f%% compute), %s", self.config.method,
                 self.computed_calls, self.model_calls, 100 * fraction, status)
        return summary
