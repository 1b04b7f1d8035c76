"""Which sampling run is under way, so that an event made anywhere during it (a compile, a notice) carries its
run id without being handed one.

ComfyUI runs one prompt at a time and its samplers one after another, so a process-wide stack serves; it is a
stack because a sampler may run inside another node's sampling (a refiner, a preview), and the innermost run
owns what happens there.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_active: list[str] = []


def active_run_id() -> str | None:
    """The innermost run under way, or None outside every run."""
    with _lock:
        return _active[-1] if _active else None


@contextlib.contextmanager
def run_scope(run_id: str) -> Iterator[None]:
    """Events made while this is open belong to run `run_id`."""
    with _lock:
        _active.append(run_id)
    try:
        yield
    finally:
        with _lock:
            _active.remove(run_id)
