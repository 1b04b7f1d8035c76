"""Recompile observation: every compile of a region becomes a `Compile` event with the guard that failed.

Torch records one `CompilationMetrics` per compiled frame (`torch._dynamo.utils.get_compilation_metrics`):
the function's name, its compile time, and for a recompile the failed guard ("tensor 'img' size mismatch at
index 1. expected 16, actual 64"). A start callback on dynamo's `callback_handler` bumps a counter, so a
region call that compiled nothing costs one integer comparison; after a call that did compile, the new
metrics are attributed to that region (regions do not nest). Where a torch lacks either hook, the observer
falls back to dynamo's graph counter and the call's wall time, with the reason "unknown".
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import torch

from ..telemetry import Compile, Notice, get_bus

log = logging.getLogger("afterburner")


class _Starts:
    """Process-wide count of dynamo compile starts (one callback, registered once), and the functions to run
    when a compile starts, before dynamo traces (`on_compile_start`)."""

    def __init__(self) -> None:
        self.count = 0
        self.hooked = False
        self.listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def ensure_hooked(self) -> bool:
        """(Re-)register the callback; `torch._dynamo.reset()` clears dynamo's callbacks."""
        handler = getattr(torch._dynamo, "callback_handler", None)
        starts = getattr(handler, "start_callbacks", None)
        if starts is None:  # older/newer torch without the handler: fall back to counters
            self.hooked = False
            return False
        if self._on_start not in starts:
            with self._lock:
                if self._on_start not in starts:
                    handler.register_start_callback(self._on_start)
        self.hooked = True
        return True

    def _on_start(self, *args: Any, **kwargs: Any) -> None:
        self.count += 1
        for listener in self.listeners:
            listener()


_STARTS = _Starts()


def on_compile_start(listener: Callable[[], None]) -> None:
    """Run `listener` whenever dynamo starts compiling a frame, before it traces (in the compiling thread)."""
    if listener not in _STARTS.listeners:
        _STARTS.listeners.append(listener)


_seen_lock = threading.Lock()
_seen: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=4096)
_seen_set: set[tuple[Any, ...]] = set()


def _metrics() -> list[Any] | None:
    try:
        from torch._dynamo.utils import get_compilation_metrics

        return list(get_compilation_metrics())
    except Exception:
        return None


def _unique_graphs() -> int:
    try:
        return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    except Exception:
        return 0


def _new_metrics() -> list[Any] | None:
    """Metrics not reported before, oldest first (None when this torch has none)."""
    metrics = _metrics()
    if metrics is None:
        return None
    fresh = []
    with _seen_lock:
        for metric in metrics:
            ident = (getattr(metric, "compile_id", None), getattr(metric, "start_time_us", None),
                     getattr(metric, "co_name", None))
            if ident in _seen_set:
                continue
            if len(_seen) == _seen.maxlen:
                _seen_set.discard(_seen[0])
            _seen.append(ident)
            _seen_set.add(ident)
            fresh.append(metric)
    return fresh


def mark_seen() -> None:
    """Treat every compile so far as reported (called when an observer starts)."""
    _new_metrics()


def _last_metric() -> Any:
    """The newest compilation metric, read without copying torch's deque (None when unavailable)."""
    metrics = getattr(torch._dynamo.utils, "_compilation_metrics", None)
    try:
        return metrics[-1] if metrics else None
    except Exception:
        return None


class Mark:
    """Where the counters stood when a region call began."""

    __slots__ = ("graphs", "hooked", "last", "started", "starts")

    def __init__(self) -> None:
        self.hooked = _STARTS.ensure_hooked()
        self.starts = _STARTS.count
        self.last = _last_metric()  # a refused compile (recompile limit) records a metric but starts nothing
        self.graphs = -1 if self.hooked else _unique_graphs()
        self.started = time.perf_counter()

    def unchanged(self) -> bool:
        if self.graphs >= 0:
            return _unique_graphs() == self.graphs and _last_metric() is self.last
        return _STARTS.count == self.starts and _last_metric() is self.last


class CompileObserver:
    """Reports the compiles of one compiled model (one node application) and counts them."""

    def __init__(self, model_label: str) -> None:
        self.model_label = model_label
        self.count = 0
        self.compiled_since_save = False
        self._lock = threading.Lock()
        _STARTS.ensure_hooked()
        mark_seen()

    def mark(self) -> Mark:
        return Mark()

    def report(self, mark: Mark, target: str, entry: tuple[str, ...] = ("forward", "_forward")) -> int:
        """Emit an event per compile since `mark`, attributed to `target`; returns how many.

        entry: the region's own function names; other frames (dynamo compiles the code after a graph break,
        and functions called there, as frames of their own) are named in brackets after the target."""
        if mark.unchanged():
            return 0
        metrics = _new_metrics()
        if metrics is None:  # no metrics in this torch: one event for the call
            metrics = [None]
        events = 0
        for metric in metrics:
            events += self._emit(metric, target, entry, time.perf_counter() - mark.started)
        return events

    def _emit(self, metric: Any, target: str, entry: tuple[str, ...], wall_s: float) -> int:
        bus = get_bus()
        if metric is None:
            reason, duration, recompile, failed = "unknown (this torch reports no compilation metrics)", wall_s, \
                self.count > 0, None
            name = target
        else:
            reason = getattr(metric, "recompile_reason", None)
            recompile = bool(reason)
            reason = reason or "first compile"
            duration = float(getattr(metric, "entire_frame_compile_time_s", None) or 0.0)
            co_name = getattr(metric, "co_name", None)
            name = target if co_name is None or co_name in entry else f"{target} [{co_name}]"
            failed = getattr(metric, "fail_type", None)
            if failed:
                detail = str(getattr(metric, "fail_reason", "") or "").splitlines()
                reason = f"{reason}; compile failed: {failed}: {(detail or [''])[0][:300]}"
        with self._lock:
            self.count += 1
            count = self.count
            if not failed:
                self.compiled_since_save = True
        bus.emit(Compile(self.model_label, name, recompile, reason, duration, count))
        if failed and "recompile limit" in reason:  # torch then runs the frame uncompiled, silently but a log line
            bus.emit(Notice("warning", "compile", f"{self.model_label} {name} hit torch's recompile limit and runs "
                                                  "uncompiled for shapes it has not seen: set dynamic to 'on' (one "
                                                  "graph for all sizes) or use fewer sizes"))
        log.info("Afterburner compile: %s %s %s in %.2fs (%s)", self.model_label, name,
                 "recompiled" if recompile else "compiled", duration, reason)
        return 1

    def take_save_request(self) -> bool:
        """True once after new successful compiles: time to save artifacts."""
        with self._lock:
            wanted, self.compiled_since_save = self.compiled_since_save, False
            return wanted

    def notice(self, severity: str, message: str) -> None:
        get_bus().emit(Notice(severity, "compile", message))  # type: ignore[arg-type]
