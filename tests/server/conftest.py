"""Server layer: a real `main.py --cpu` with the pack, one per test module, killed at the end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import websocket

from devtools.comfy_server import ComfyServer


@pytest.fixture(scope="module")
def server() -> Iterator[ComfyServer]:
    with ComfyServer() as running:
        yield running


class EventLog:
    """Every websocket message of one client, collected on a thread."""

    def __init__(self, server: ComfyServer) -> None:
        self.messages: list[dict] = []
        self._socket = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={server.client_id}",
                                                   timeout=5)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                raw = self._socket.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            if isinstance(raw, str) and raw:
                self.messages.append(json.loads(raw))

    def of_type(self, kind: str) -> list[dict]:
        return [m["data"] for m in list(self.messages) if m.get("type") == kind]

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def events(server: ComfyServer) -> Iterator[EventLog]:
    log = EventLog(server)
    yield log
    log.close()
