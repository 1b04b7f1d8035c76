"""Typed events, the thread-safe bus that carries them, and the per-run records built from them."""

from .bus import TelemetryBus, get_bus
from .events import Compile, Event, Notice, RunFinished, RunStarted, Step

__all__ = ["Compile", "Event", "Notice", "RunFinished", "RunStarted", "Step", "TelemetryBus", "get_bus"]
