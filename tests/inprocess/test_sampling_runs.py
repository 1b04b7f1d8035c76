"""One sampling run, one record, whatever takes part: compile alone, cache and compile together, two samplers one
after another; and a second node of a capability replaces the first instead of stacking on it."""

from __future__ import annotations

import torch
from comfy.patcher_extension import WrappersMP
from helpers import (  # noqa: F401 - its autouse fixture
    CFG,
    auto,
    build,
    compile_isolation,
    compiled,
    multi_block,
    periodic,
    records_since,
    run_ids,
    sample,
    sample_recorded,
)

from afterburner.py.cache import hooks
from afterburner.py.run import Enrollment, SamplingRun
from afterburner.py.run.wrappers import WRAPPER_KEY as RUN_WRAPPER_KEY
from afterburner.py.telemetry import TelemetryBus, get_bus
from devpack import tiny_models

STEPS = 6


def test_a_compile_only_run_is_recorded_with_the_compiles_it_made():
    torch._dynamo.reset()  # compiled code of an earlier test's flux blocks would serve this run
    model = compiled(build("flux"), save=False)
    out, record = sample_recorded(model, "flux", steps=STEPS)
    assert torch.isfinite(out).all()
    assert record["method"] == "compile" and record["status"] == "ok" and record["total_steps"] == STEPS
    assert set(record["capabilities"]) == {"compile"} and record["steps"] == []
    assert record["compiles"], "the first compiled run compiles, and those compiles belong to it"
    assert all(c["run_id"] == record["run_id"] for c in record["compiles"])
    history = get_bus().read(lambda h: [c for c in h.compiles if c["run_id"] == record["run_id"]])
    assert history == record["compiles"], "the process-wide history lists them too"
    assert record["summary"]["capabilities"]["compile"]["compiles"] == len(record["compiles"])


def test_cache_and_compile_share_one_record():
    model = compiled(auto(build("flux"), 0.5), save=False)
    _, record = sample_recorded(model, "flux", steps=STEPS)
    assert set(record["capabilities"]) == {"cache", "compile"}
    assert record["method"] == "cache:auto + compile"
    assert record["capabilities"]["cache"]["params"]["speed_factor"] == 0.5
    assert record["steps"] and all(c["run_id"] == record["run_id"] for c in record["compiles"])
    summary = record["summary"]
    assert summary["computed_calls"] < summary["model_calls"] == STEPS
    assert summary["capabilities"]["cache"]["model_calls"] == summary["model_calls"]


def test_two_samplers_give_two_runs():
    model = auto(tiny_models.build_model("flux", seed=0), 0.5)
    before = run_ids()
    sample(model, "flux", steps=STEPS, seed=1)
    sample(model, "flux", steps=STEPS, seed=2)
    records = records_since(before)
    assert len(records) == 2 and records[0]["run_id"] != records[1]["run_id"]
    assert all(r["status"] == "ok" and r["method"] == "cache:auto" for r in records)


def test_a_second_cache_node_replaces_the_first():
    base = tiny_models.build_model("flux", seed=0)
    alone, alone_record = sample_recorded(auto(base, 0.5), "flux", cfg=CFG)
    stacked = auto(periodic(base, interval=3), 0.5)
    for kind in (WrappersMP.PREDICT_NOISE, WrappersMP.DIFFUSION_MODEL, WrappersMP.OUTER_SAMPLE):
        keys = (hooks.WRAPPER_KEY, RUN_WRAPPER_KEY)
        assert sum(len(stacked.get_wrappers(kind, key)) for key in keys) == 1, f"{kind}: one wrapper, not two"
    out, record = sample_recorded(stacked, "flux", cfg=CFG)
    assert torch.equal(out, alone)
    assert record["method"] == "cache:auto"
    assert [(s["step"], s["action"]) for s in record["steps"]] == \
        [(s["step"], s["action"]) for s in alone_record["steps"]]


def test_a_block_cache_after_another_leaves_none_of_the_first_blocks_replaced():
    base = tiny_models.build_model("flux", seed=0)
    second = multi_block(multi_block(base, 0.5, first_blocks=1, skip_single="1"), 0.5, first_blocks=2)
    alone = multi_block(base, 0.5, first_blocks=2)
    replaced = second.model_options["transformer_options"]["patches_replace"]["dit"]
    assert set(replaced) == set(alone.model_options["transformer_options"]["patches_replace"]["dit"])
    assert torch.equal(sample(second, "flux", cfg=CFG), sample(alone, "flux", cfg=CFG))


def test_a_sampling_run_follows_the_samplers_steps_and_announces_its_participants():
    class Counting:
        def __init__(self, run):
            self.began = False

        def begin(self):
            self.began = True

        def finish(self, status):
            return {"status_seen": status}

    bus = TelemetryBus()
    run = SamplingRun("Flux", torch.tensor([1.0, 0.5, 0.25, 0.0]), {}, bus)
    run.begin({"compile": Enrollment("compile", {"scope": "per block"}, "9", Counting)})
    assert run.total_steps == 3 and float(run.sigma) == 1.0 and run.participant("compile").began
    run.step_finished(0)
    assert run.step == 1 and float(run.sigma) == 0.5
    run.step_finished(2)
    assert float(run.sigma) == 0.0  # past the last step: the final sigma
    summary = run.finish("ok")
    bus.flush()
    record = bus.read(lambda h: h.get(run.run_id))
    assert record["method"] == "compile" and record["params"] == {"scope": "per block", "node_id": "9"}
    assert record["capabilities"]["compile"]["node_id"] == "9"
    assert summary.capabilities == {"compile": {"status_seen": "ok"}} and run.participant("compile") is None
