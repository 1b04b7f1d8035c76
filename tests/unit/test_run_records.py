"""A run's record holds what happened during it: the capabilities taking part, and the compiles and notices made
while it ran (each also in the process-wide history); events made outside every run belong to none."""

from afterburner.py.telemetry import Compile, Notice, RunFinished, RunStarted, TelemetryBus
from afterburner.py.telemetry.scope import active_run_id, run_scope


def test_compiles_and_notices_made_during_a_run_carry_its_id_and_land_in_its_record():
    bus = TelemetryBus()
    capabilities = {"compile": {"label": "compile", "params": {"scope": "per block"}, "node_id": "9"}}
    bus.emit(RunStarted("r1", "Flux", "compile", {}, 4, capabilities=capabilities))
    outside = Compile("Flux", "double_blocks.0", False, "first compile", 1.0, 1)
    with run_scope("r1"):
        inside = Compile("Flux", "single_blocks.0", False, "first compile", 2.0, 2)
        note = Notice("info", "compile", "loaded saved code")
        assert active_run_id() == "r1"
    assert active_run_id() is None
    for event in (outside, inside, note):
        bus.emit(event)
    bus.emit(RunFinished("r1", "ok", 4, 0, 0, 0.5, capabilities={"compile": {"compiles": 1}}))
    bus.flush()
    assert (outside.run_id, inside.run_id, note.run_id) == (None, "r1", "r1")
    record = bus.read(lambda h: h.get("r1"))
    assert record["capabilities"] == capabilities
    assert [c["target"] for c in record["compiles"]] == ["single_blocks.0"]
    assert [n["message"] for n in record["notices"]] == ["loaded saved code"]
    assert record["summary"]["capabilities"] == {"compile": {"compiles": 1}}
    assert bus.read(lambda h: [c["target"] for c in h.compiles]) == ["double_blocks.0", "single_blocks.0"]


def test_nested_runs_give_events_to_the_innermost():
    with run_scope("outer"):
        with run_scope("inner"):
            assert Notice("info", "x", "y").run_id == "inner"
        assert Notice("info", "x", "y").run_id == "outer"

