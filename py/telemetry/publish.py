"""The backend's one link to the server: forward every event to ComfyUI's websocket."""

from __future__ import annotations

import sys
from typing import Any

from .bus import TelemetryBus
from .events import Event


def send_to_comfyui(event: Event, payload: dict[str, Any]) -> None:
    """Broadcast as `afterburner.<kind>`; a no-op when no ComfyUI server runs in this process."""
    server = sys.modules.get("server")  # never import it: in-process tests and benches have no server
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is not None:
        instance.send_sync(f"afterburner.{event.kind}", payload)


def connect_to_comfyui(bus: TelemetryBus) -> None:
    bus.subscribe(send_to_comfyui)
