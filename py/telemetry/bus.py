"""The telemetry bus: the sampling thread enqueues events; one worker thread converts, records and publishes.

Keeping conversion (tensor -> float) and publishing off the sampling thread means a decision costs an
enqueue, and a slow websocket never slows a step.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from .events import Event
from .runs import RunHistory

Subscriber = Callable[[Event, dict[str, Any]], None]
log = logging.getLogger("afterburner")


class TelemetryBus:
    def __init__(self, history: RunHistory | None = None) -> None:
        self.history = history or RunHistory()
        self._queue: queue.Queue[Event | _Marker] = queue.Queue()
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()  # guards history and subscribers against readers (routes)
        self._worker: threading.Thread | None = None

    def emit(self, event: Event) -> None:
        """Hot path: enqueue only."""
        self._queue.put_nowait(event)
        if self._worker is None:
            self._start_worker()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call `fn(event, payload)` for every event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(fn)
        return lambda: self._unsubscribe(fn)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every event emitted so far has been recorded and published."""
        done = threading.Event()
        self._queue.put_nowait(_Marker(done))
        if self._worker is None:
            self._start_worker()
        if not done.wait(timeout):
            raise TimeoutError("telemetry bus did not drain")

    def read(self, fn: Callable[[RunHistory], Any]) -> Any:
        """Run `fn` on the history under the lock (for routes running on the server's thread)."""
        with self._lock:
            return fn(self.history)

    def _unsubscribe(self, fn: Subscriber) -> None:
        with self._lock:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._drain, name="afterburner-telemetry", daemon=True)
                self._worker.start()

    def _drain(self) -> None:
        while True:
            event = self._queue.get()
            if isinstance(event, _Marker):
                event.done.set()
                continue
            try:
                payload = event.payload()
                with self._lock:
                    self.history.apply(event, payload)
                    subscribers = list(self._subscribers)
            except Exception:
                log.exception("afterburner: could not record %s", type(event).__name__)
                continue
            for fn in subscribers:
                try:
                    fn(event, payload)
                except Exception:  # one broken subscriber must not starve the others or stop telemetry
                    log.exception("afterburner: telemetry subscriber failed on %s", type(event).__name__)


class _Marker:
    """Queued by `flush`: set once every event queued before it is handled."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done


_BUS = TelemetryBus()


def get_bus() -> TelemetryBus:
    """The process-wide bus that nodes emit to and routes read from."""
    return _BUS
