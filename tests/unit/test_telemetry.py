"""The bus records runs from events, converts device values off the hot path, and survives bad subscribers."""

import json
import threading

import torch

from afterburner.py.telemetry import Compile, Notice, RunFinished, RunStarted, Step, TelemetryBus
from afterburner.py.telemetry.runs import RunHistory


def test_a_run_is_folded_from_its_events_and_serialises_to_json():
    bus = TelemetryBus()
    bus.emit(RunStarted("r1", "Flux", "cache:auto", {"speed_factor": 0.5}, 3))
    for step, action in enumerate(["computed", "reused", "computed"]):
        bus.emit(Step("r1", step, torch.tensor(1.0 - step / 3), "cond", action, torch.tensor(0.02), 0.01))
    bus.emit(RunFinished("r1", "ok", 3, model_calls=3, computed_calls=2, wall_s=0.5))
    bus.flush()
    record = bus.read(lambda h: h.get("r1"))
    assert record["status"] == "ok"
    assert [s["action"] for s in record["steps"]] == ["computed", "reused", "computed"]
    assert isinstance(record["steps"][1]["sigma"], float) and abs(record["steps"][1]["signal"] - 0.02) < 1e-7
    assert abs(record["summary"]["compute_fraction"] - 2 / 3) < 1e-9
    json.dumps(record)


def test_history_keeps_the_newest_runs_first_and_drops_the_oldest():
    history = RunHistory(max_runs=3)
    for i in range(5):
        event = RunStarted(f"r{i}", "m", "cache:x", {}, 10)
        history.apply(event, event.payload())
    assert [r["run_id"] for r in history.recent(10)] == ["r4", "r3", "r2"]
    assert history.recent(0) == [] and history.get("r0") is None


def test_compiles_and_notices_are_kept_and_steps_of_unknown_runs_ignored():
    bus = TelemetryBus()
    bus.emit(Step("nope", 0, 1.0, "cond", "computed"))
    bus.emit(Compile("Flux", "double_blocks.0", True, "size of x changed", 1.5, 2))
    bus.emit(Notice("warning", "First Block Cache", "fell back"))
    bus.flush()
    assert bus.read(lambda h: (len(h.compiles), len(h.notices), h.recent(5))) == (1, 1, [])


def test_subscribers_get_payloads_and_a_failing_one_does_not_stop_the_bus():
    bus, seen = TelemetryBus(), []
    bus.subscribe(lambda event, payload: 1 / 0)
    unsubscribe = bus.subscribe(lambda event, payload: seen.append((event.kind, payload)))
    bus.emit(Notice("info", "test", "one"))
    bus.flush()
    unsubscribe()
    bus.emit(Notice("info", "test", "two"))
    bus.flush()
    assert [(kind, p["message"]) for kind, p in seen] == [("notice", "one")]


def test_emit_is_thread_safe():
    bus = TelemetryBus()
    bus.emit(RunStarted("r", "m", "cache:x", {}, 1000))

    def worker(offset):
        for i in range(200):
            bus.emit(Step("r", offset + i, 0.5, "cond", "computed"))

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bus.flush()
    assert len(bus.read(lambda h: h.get("r"))["steps"]) == 800
