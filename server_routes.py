"""Afterburner's HTTP routes, all read-only, under /afterburner/ (ComfyUI mirrors them under /api/)."""

from __future__ import annotations

import platform
from typing import Any

import torch
from aiohttp import web
from server import PromptServer

from .py.telemetry import get_bus
from .py.telemetry.publish import connect_to_comfyui
from .py.version import __version__

MAX_RUNS = 50
routes = PromptServer.instance.routes


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"'{name}' must be an integer from {lo} to {hi}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"'{name}' must be from {lo} to {hi}, got {value}")
    return value


def health_payload() -> dict[str, Any]:
    import comfy.model_management
    from comfyui_version import __version__ as comfyui_version

    return {
        "pack": "afterburner",
        "version": __version__,
        "comfyui": comfyui_version,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(comfy.model_management.get_torch_device()),
    }


@routes.get("/afterburner/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response(health_payload())


@routes.get("/afterburner/runs")
async def runs(request: web.Request) -> web.Response:
    try:
        limit = _int_query(request, "limit", 20, 1, MAX_RUNS)
    except ValueError as err:
        return _error(400, str(err))
    return web.json_response(get_bus().read(lambda history: {"runs": history.recent(limit)}))


@routes.get("/afterburner/runs/{run_id}")
async def run(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    record = get_bus().read(lambda history: history.get(run_id))
    return web.json_response(record) if record else _error(404, f"no run with id {run_id!r} in recent history")


@routes.get("/afterburner/events")
async def events(request: web.Request) -> web.Response:
    """Recent compile events and notices, for a page that opens after they happened."""
    return web.json_response(
        get_bus().read(lambda history: {"compiles": list(history.compiles), "notices": list(history.notices)})
    )


connect_to_comfyui(get_bus())
