import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  DEFAULT_HISTORY_LENGTH,
  MAX_HISTORY_LENGTH,
  compileCounts,
  currentRun,
  initialState,
  isRunSelected,
  isSectionOpen,
  nodeCapability,
  reduce,
  runCapabilities,
  runCounts,
  runForNode,
  runHasCache,
  shownRun,
  stepCounts,
  stepsDone,
} from "../../web/js/store.js";
import { apply, caps, compiled, finished, notice, record, started, step, summaryOf } from "./helpers.mjs";

const run = (state, id) => state.runs.find((r) => r.run_id === id);

describe("initial state", () => {
  test("is empty with the default history length", () => {
    const s = initialState();
    assert.deepEqual(s.runs, []);
    assert.deepEqual(s.compiles, []);
    assert.deepEqual(s.notices, []);
    assert.equal(s.historyLength, DEFAULT_HISTORY_LENGTH);
    assert.equal(s.loaded, false);
    assert.equal(currentRun(s), null);
    assert.deepEqual(s.view, { selectedRunId: null, collapsed: {} });
    assert.equal(shownRun(s), null);
  });

  test("history length is clamped to 1..MAX", () => {
    assert.equal(initialState(0).historyLength, 1);
    assert.equal(initialState(1000).historyLength, MAX_HISTORY_LENGTH);
    assert.equal(initialState("7").historyLength, 7);
    assert.equal(initialState(NaN).historyLength, DEFAULT_HISTORY_LENGTH);
  });
});

describe("a run's lifecycle", () => {
  test("started, steps, finished", () => {
    const s = apply(initialState(), reduce, [
      started("a"),
      step("a", 0, "computed"),
      step("a", 1, "reused"),
      step("a", 2, "computed"),
      step("a", 3, "extrapolated"),
      finished("a", { model_calls: 4, computed_calls: 2 }),
    ]);
    const r = currentRun(s);
    assert.equal(r.run_id, "a");
    assert.equal(r.model, "Flux");
    assert.equal(r.method, "cache:adaptive");
    assert.equal(r.status, "ok");
    assert.equal(r.steps.length, 4);
    assert.deepEqual(stepCounts(r), { computed: 2, reused: 1, extrapolated: 1, total: 4 });
    assert.equal(stepsDone(r), 4);
    const c = runCounts(r);
    assert.equal(c.final, true);
    assert.equal(c.computed, 2);
    assert.equal(c.total, 4);
    assert.equal(c.skipped, 2);
    assert.equal(c.fraction, 0.5);
    assert.equal(r.summary.wall_s, 1.5);
    assert.equal(r.summary.cache_bytes, 2048);
  });

  test("live counts before the summary arrives", () => {
    const s = apply(initialState(), reduce, [started("a"), step("a", 0, "computed"), step("a", 1, "reused")]);
    const c = runCounts(currentRun(s));
    assert.equal(c.final, false);
    assert.equal(c.computed, 1);
    assert.equal(c.total, 2);
    assert.equal(c.fraction, 0.5);
    assert.equal(currentRun(s).status, "running");
  });

  test("the summary is authoritative once finished (it counts every model call)", () => {
    const s = apply(initialState(), reduce, [
      started("a"),
      step("a", 0, "computed"),
      finished("a", { model_calls: 28, computed_calls: 18 }),
    ]);
    const c = runCounts(currentRun(s));
    assert.equal(c.computed, 18);
    assert.equal(c.total, 28);
    assert.equal(c.live.total, 1);
  });

  test("compute fraction is derived when the payload lacks it", () => {
    const ev = finished("a", { model_calls: 10, computed_calls: 4 });
    delete ev.data.compute_fraction;
    const s = apply(initialState(), reduce, [started("a"), ev]);
    assert.equal(currentRun(s).summary.compute_fraction, 0.4);
  });

  test("interrupted run keeps its partial steps, status and message", () => {
    const s = apply(initialState(), reduce, [
      started("a", { total_steps: 10 }),
      step("a", 0, "computed"),
      step("a", 1, "reused"),
      step("a", 2, "computed"),
      finished("a", { status: "interrupted", total_steps: 10, model_calls: 3, computed_calls: 2, message: "Interrupted by the user" }),
    ]);
    const r = currentRun(s);
    assert.equal(r.status, "interrupted");
    assert.equal(r.total_steps, 10);
    assert.equal(stepsDone(r), 3);
    assert.equal(r.summary.message, "Interrupted by the user");
    assert.equal(runCounts(r).computed, 2);
    assert.equal(runCounts(r).total, 3);
  });

  test("an error run", () => {
    const s = apply(initialState(), reduce, [started("a"), finished("a", { status: "error", message: "boom" })]);
    assert.equal(currentRun(s).status, "error");
  });

  test("a step before its run_started (page opened mid-run) creates the run, run_started fills it in", () => {
    let s = reduce(initialState(), step("a", 5, "computed"));
    assert.equal(s.runs.length, 1);
    assert.equal(currentRun(s).model, "");
    assert.equal(currentRun(s).status, "running");
    s = reduce(s, started("a"));
    assert.equal(s.runs.length, 1);
    assert.equal(currentRun(s).model, "Flux");
    assert.equal(currentRun(s).steps.length, 1);
  });
});

describe("idempotence", () => {
  test("the same step twice is counted once and returns the same state", () => {
    const s1 = apply(initialState(), reduce, [started("a"), step("a", 0, "computed")]);
    const s2 = reduce(s1, step("a", 0, "computed"));
    assert.equal(s2, s1);
    assert.equal(stepCounts(currentRun(s2)).total, 1);
  });

  test("two evaluations of one step at different sigmas (Heun) are both kept", () => {
    const s = apply(initialState(), reduce, [
      started("a"),
      step("a", 0, "computed", { sigma: 1.0 }),
      step("a", 0, "reused", { sigma: 0.8 }),
    ]);
    assert.equal(currentRun(s).steps.length, 2);
  });

  test("cond and uncond of one step are separate decisions", () => {
    const s = apply(initialState(), reduce, [
      started("a"),
      step("a", 0, "computed", { branch: "cond" }),
      step("a", 0, "computed", { branch: "uncond" }),
      step("a", 0, "computed", { branch: "uncond" }),
    ]);
    assert.equal(stepCounts(currentRun(s)).total, 2);
  });

  test("run_started twice does not duplicate the run", () => {
    const s = apply(initialState(), reduce, [started("a"), step("a", 0, "computed"), started("a")]);
    assert.equal(s.runs.length, 1);
    assert.equal(currentRun(s).steps.length, 1);
  });

  test("history reload overlapping live events does not duplicate anything", () => {
    const live = [started("a"), step("a", 0, "computed"), step("a", 1, "reused")];
    let s = apply(initialState(), reduce, live);
    // The snapshot was taken after step 2 arrived on the server, before it reached us.
    const snapshotSteps = [...live.slice(1), step("a", 2, "computed")];
    s = reduce(s, { type: "history_loaded", data: { runs: [record("a", { steps: snapshotSteps })] } });
    assert.equal(s.runs.length, 1);
    assert.deepEqual(stepCounts(currentRun(s)), { computed: 2, reused: 1, extrapolated: 0, total: 3 });
    // ...then step 2 arrives live too, and then the same snapshot again (a reconnect).
    s = reduce(s, step("a", 2, "computed"));
    s = reduce(s, { type: "history_loaded", data: { runs: [record("a", { steps: snapshotSteps })] } });
    assert.equal(s.runs.length, 1);
    assert.equal(stepCounts(currentRun(s)).total, 3);
    assert.deepEqual(
      currentRun(s).steps.map((x) => x.step),
      [0, 1, 2],
    );
    assert.equal(s.loaded, true);
  });

  test("an older snapshot never turns a finished run back to running", () => {
    let s = apply(initialState(), reduce, [started("a"), step("a", 0, "computed"), finished("a")]);
    s = reduce(s, { type: "history_loaded", data: { runs: [record("a", { status: "running" })] } });
    assert.equal(currentRun(s).status, "ok");
    assert.notEqual(currentRun(s).summary, null);
    assert.equal(currentRun(s).steps.length, 1);
  });

  test("a snapshot brings the summary of a run whose run_finished was missed", () => {
    const fin = finished("a", { model_calls: 8, computed_calls: 5 });
    let s = apply(initialState(), reduce, [started("a"), step("a", 0, "computed")]);
    s = reduce(s, { type: "history_loaded", data: { runs: [record("a", { status: "ok", summary: summaryOf(fin) })] } });
    assert.equal(currentRun(s).status, "ok");
    assert.equal(runCounts(currentRun(s)).computed, 5);
    assert.equal(runCounts(currentRun(s)).total, 8);
  });

  test("compile events and notices from a snapshot and live are not duplicated", () => {
    const compile = { model: "Flux", target: "double_blocks.0", recompile: true, reason: "shape changed", duration_s: 2.5, count: 2 };
    const notice = { severity: "warning", source: "attention", message: "SageAttention not installed", at: 123.5 };
    let s = apply(initialState(), reduce, [
      { type: "compile", data: compile },
      { type: "notice", data: notice },
    ]);
    s = reduce(s, { type: "history_loaded", data: { compiles: [compile], notices: [notice] } });
    s = reduce(s, { type: "compile", data: compile });
    assert.equal(s.compiles.length, 1);
    assert.equal(s.notices.length, 1);
    assert.equal(s.compiles[0].reason, "shape changed");
    assert.equal(s.notices[0].severity, "warning");
  });

  test("compile events are listed newest first", () => {
    const c = (count) => ({ model: "m", target: "t", recompile: count > 1, reason: `r${count}`, duration_s: 1, count });
    let s = reduce(initialState(), { type: "history_loaded", data: { compiles: [c(1), c(2)] } });
    s = reduce(s, { type: "compile", data: c(3) });
    assert.deepEqual(
      s.compiles.map((x) => x.count),
      [3, 2, 1],
    );
  });
});

describe("several runs", () => {
  test("two runs interleaved keep their own steps; newest first", () => {
    const s = apply(initialState(), reduce, [
      started("a", { started_at: 100 }),
      started("b", { started_at: 101, model: "SDXL" }),
      step("a", 0, "computed"),
      step("b", 0, "computed"),
      step("a", 1, "reused"),
      step("b", 1, "computed"),
      step("b", 2, "reused"),
      finished("a", { model_calls: 2, computed_calls: 1 }),
      step("b", 3, "computed"),
    ]);
    assert.deepEqual(
      s.runs.map((r) => r.run_id),
      ["b", "a"],
    );
    assert.equal(run(s, "a").status, "ok");
    assert.equal(run(s, "b").status, "running");
    assert.deepEqual(stepCounts(run(s, "a")), { computed: 1, reused: 1, extrapolated: 0, total: 2 });
    assert.deepEqual(stepCounts(run(s, "b")), { computed: 3, reused: 1, extrapolated: 0, total: 4 });
    assert.equal(run(s, "b").model, "SDXL");
  });

  test("history_loaded merges with live runs and orders by start time", () => {
    let s = apply(initialState(), reduce, [started("live", { started_at: 300 })]);
    s = reduce(s, {
      type: "history_loaded",
      data: { runs: [record("live", { started_at: 300 }), record("old2", { started_at: 200 }), record("old1", { started_at: 100 })] },
    });
    assert.deepEqual(
      s.runs.map((r) => r.run_id),
      ["live", "old2", "old1"],
    );
  });

  test("the history cap is respected, dropping the oldest runs", () => {
    let s = initialState(3);
    for (let i = 0; i < 6; i++) s = reduce(s, started(`r${i}`, { started_at: 100 + i }));
    assert.deepEqual(
      s.runs.map((r) => r.run_id),
      ["r5", "r4", "r3"],
    );
    const many = Array.from({ length: 10 }, (_, i) => record(`h${i}`, { started_at: 50 - i }));
    s = reduce(s, { type: "history_loaded", data: { runs: many } });
    assert.equal(s.runs.length, 3);
    assert.deepEqual(
      s.runs.map((r) => r.run_id),
      ["r5", "r4", "r3"],
    );
  });

  test("a late step for a run that fell off the history re-creates it only within the cap", () => {
    let s = initialState(2);
    s = apply(s, reduce, [started("a", { started_at: 1 }), started("b", { started_at: 2 }), started("c", { started_at: 3 })]);
    assert.deepEqual(
      s.runs.map((r) => r.run_id),
      ["c", "b"],
    );
    s = reduce(s, step("a", 0, "computed"));
    assert.ok(s.runs.length <= 2);
  });

  test("set_history_length shrinks the list and clamps", () => {
    let s = initialState(10);
    for (let i = 0; i < 5; i++) s = reduce(s, started(`r${i}`, { started_at: i }));
    s = reduce(s, { type: "set_history_length", data: 2 });
    assert.equal(s.historyLength, 2);
    assert.deepEqual(
      s.runs.map((r) => r.run_id),
      ["r4", "r3"],
    );
    s = reduce(s, { type: "set_history_length", data: 9999 });
    assert.equal(s.historyLength, MAX_HISTORY_LENGTH);
  });

  test("runForNode prefers a run tagged with the node id, else the newest", () => {
    const s = apply(initialState(), reduce, [
      started("a", { started_at: 1, params: { node_id: "12" } }),
      started("b", { started_at: 2 }),
    ]);
    assert.equal(runForNode(s, 12).run_id, "a");
    assert.equal(runForNode(s, 99).run_id, "b");
    assert.equal(runForNode(initialState(), 1), null);
  });
});

describe("bad input is ignored", () => {
  const base = apply(initialState(), reduce, [started("a"), step("a", 0, "computed")]);
  const bad = [
    null,
    undefined,
    "step",
    { type: "unknown_kind", data: { run_id: "a" } },
    { type: "step" },
    { type: "step", data: null },
    { type: "step", data: { run_id: "a", step: 1, action: "teleported", branch: "cond" } },
    { type: "step", data: { run_id: "a", step: -1, action: "computed" } },
    { type: "step", data: { run_id: "a", step: 1.5, action: "computed" } },
    { type: "step", data: { step: 1, action: "computed" } },
    { type: "run_started", data: { model: "x" } },
    { type: "run_started", data: [] },
    { type: "run_finished", data: { status: "ok" } },
    { type: "compile", data: { model: "m" } },
    { type: "notice", data: { severity: "error" } },
    { type: "history_loaded", data: "nope" },
    { type: "set_history_length", data: DEFAULT_HISTORY_LENGTH },
    { type: "select_run", data: "no-such-run" },
    { type: "select_run", data: 5 },
    { type: "select_run", data: null }, // already following the newest
    { type: "select_run", data: "a" }, // the newest: following it already
    { type: "toggle_run", data: null },
    { type: "toggle_section", data: 5 },
    { type: "set_section_open", data: { section: "runs" } },
    { type: "set_section_open", data: { section: "runs", open: true } }, // already open
    { type: "compile", data: { run_id: "a", model: "m" } },
  ];
  for (const action of bad) {
    test(`ignores ${JSON.stringify(action)}`, () => {
      assert.equal(reduce(base, action), base);
    });
  }

  test("malformed records inside a snapshot are skipped, good ones kept", () => {
    const s = reduce(base, {
      type: "history_loaded",
      data: { runs: [null, { model: "no id" }, record("z", { started_at: 5, steps: [step("z", 0, "nonsense"), step("z", 1, "reused")] })] },
    });
    assert.deepEqual(s.runs.map((r) => r.run_id).sort(), ["a", "z"]);
    assert.equal(run(s, "z").steps.length, 1);
  });

  test("non-finite numbers become null, an unknown notice severity becomes info", () => {
    let s = reduce(base, step("a", 1, "reused", { signal: "NaN", sigma: null }));
    const st = currentRun(s).steps.find((x) => x.step === 1);
    assert.equal(st.signal, null);
    assert.equal(st.sigma, null);
    s = reduce(s, { type: "notice", data: { severity: "shouting", message: "hi", source: "x", at: 1 } });
    assert.equal(s.notices[0].severity, "info");
  });

  test("the reducer never mutates its input", () => {
    const frozen = structuredClone(base);
    apply(base, reduce, [step("a", 1, "reused"), finished("a"), { type: "history_loaded", data: { runs: [record("b")] } }]);
    assert.deepEqual(base, frozen);
  });
});

test("a replacing snapshot (after a reconnect) drops runs, compiles and notices the server no longer has", () => {
  let state = reduce(initialState(), { type: "history_loaded", data: {
    runs: [{ run_id: "old", model: "Flux", method: "cache:auto", params: {}, total_steps: 4, started_at: 1,
      status: "ok", steps: [], summary: null }],
    compiles: [{ model: "Flux", target: "double_blocks[0]", recompile: false, reason: "", duration_s: 1, count: 1 }],
    notices: [{ severity: "warning", source: "x", message: "old", at: 1 }] } });
  assert.equal(state.runs.length, 1);
  state = reduce(state, { type: "history_loaded", data: {
    runs: [{ run_id: "new", model: "Flux", method: "cache:auto", params: {}, total_steps: 4, started_at: 2,
      status: "ok", steps: [], summary: null }], compiles: [], notices: [], replace: true } });
  assert.deepEqual(state.runs.map((r) => r.run_id), ["new"]);
  assert.equal(state.compiles.length, 0);
  assert.equal(state.notices.length, 0);
});

describe("the new event contract: capabilities, compiles and notices per run", () => {
  test("run_started keeps the capabilities; node ids become strings", () => {
    const s = reduce(initialState(), started("a", { method: "cache:adaptive + compile", capabilities: {
      cache: { label: "adaptive", params: { threshold: 0.1 }, node_id: 5 },
      compile: { label: "compile", params: {}, node_id: null },
      junk: "not an object",
    } }));
    const r = currentRun(s);
    assert.deepEqual(r.capabilities, {
      cache: { label: "adaptive", params: { threshold: 0.1 }, node_id: "5" },
      compile: { label: "compile", params: {}, node_id: null },
    });
    assert.deepEqual(runCapabilities(r).map((c) => c.name), ["cache", "compile"]);
    assert.equal(runHasCache(r), true);
  });

  test("an old record without capabilities gets them from its method", () => {
    const s = reduce(initialState(), started("a", { params: { threshold: 0.1, node_id: 12 } }));
    assert.deepEqual(runCapabilities(currentRun(s)), [
      { name: "cache", label: "adaptive", params: { threshold: 0.1, node_id: 12 }, node_id: "12" },
    ]);
    const both = reduce(initialState(), started("b", { method: "cache:adaptive + compile" }));
    assert.deepEqual(runCapabilities(currentRun(both)).map((c) => [c.name, c.label]), [["cache", "adaptive"], ["compile", ""]]);
    assert.equal(runHasCache(currentRun(both)), true);
  });

  test("a compile-only run has no cache, and counts its compiles live, then from its summary", () => {
    let s = apply(initialState(), reduce, [
      started("c", { method: "compile", params: {}, capabilities: caps({ cache: null, compile: true }) }),
      compiled("c", "double_blocks.0"),
      compiled("c", "double_blocks.1", { duration_s: 1.5 }),
      compiled("c", "double_blocks.0", { count: 2, reason: "size of x changed" }),
    ]);
    const r = currentRun(s);
    assert.equal(runHasCache(r), false);
    assert.equal(r.steps.length, 0);
    assert.deepEqual(
      r.compiles.map((c) => [c.target, c.recompile, c.count]),
      [["double_blocks.0", false, 1], ["double_blocks.1", false, 1], ["double_blocks.0", true, 2]],
    );
    assert.deepEqual(compileCounts(r), { compiles: 3, recompiles: 1, duration_s: 6.5, listed: 3, final: false });
    s = reduce(s, finished("c", { model_calls: 3, computed_calls: 3, capabilities: { compile: { compiles: 4, recompiles: 2 } } }));
    const done = compileCounts(currentRun(s));
    assert.equal(done.final, true);
    assert.equal(done.compiles, 4);
    assert.equal(done.recompiles, 2);
    assert.equal(done.listed, 3);
    assert.equal(runHasCache(currentRun(s)), false);
  });

  test("a compile summary with only a count (as py/compile/install.py sends it) keeps the live recompiles", () => {
    const s = apply(initialState(), reduce, [
      started("c", { method: "compile", params: { backend: "inductor", node_id: "6" }, capabilities: caps({ cache: null, compile: true }) }),
      compiled("c", "blocks.0"),
      compiled("c", "blocks.0", { count: 2 }),
      finished("c", { model_calls: 0, computed_calls: 0, cache_bytes: 0, capabilities: { compile: { compiles: 2 } } }),
    ]);
    assert.deepEqual(compileCounts(currentRun(s)), { compiles: 2, recompiles: 1, duration_s: 5, listed: 2, final: true });
    assert.equal(runHasCache(currentRun(s)), false);
    assert.equal(nodeCapability(currentRun(s), 6), "compile", "capabilities win over the params' node_id");
  });

  test("a compile-only run known only from its summary has no cache either", () => {
    const s = apply(initialState(), reduce, [
      { type: "run_finished", data: { run_id: "c", status: "ok", capabilities: { compile: { compiles: 1, recompiles: 0 } } } },
    ]);
    assert.equal(runHasCache(currentRun(s)), false);
  });

  test("compiles go both to the process-wide history and to their run; run_id null only to the history", () => {
    const s = apply(initialState(), reduce, [
      started("a", { capabilities: caps({ compile: true }) }),
      compiled("a", "blocks.0"),
      compiled(null, "vae.decode"),
      compiled("a", "blocks.0"), // the same event again
    ]);
    assert.deepEqual(s.compiles.map((c) => [c.target, c.run_id]), [["vae.decode", null], ["blocks.0", "a"]]);
    assert.deepEqual(currentRun(s).compiles.map((c) => c.target), ["blocks.0"]);
    assert.equal(s.runs.length, 1);
  });

  test("an old compile event (no run_id) is kept with run_id null", () => {
    const ev = compiled("a", "t");
    delete ev.data.run_id;
    const s = apply(initialState(), reduce, [started("a"), ev]);
    assert.equal(s.compiles[0].run_id, null);
    assert.deepEqual(currentRun(s).compiles, []);
  });

  test("notices with a run_id are listed under their run too", () => {
    const s = apply(initialState(), reduce, [
      started("a"),
      notice("a", "fell back to eager"),
      notice(null, "SageAttention not installed", { at: 1001 }),
    ]);
    assert.equal(s.notices.length, 2);
    assert.deepEqual(currentRun(s).notices.map((n) => n.message), ["fell back to eager"]);
    assert.equal(s.notices[0].run_id, null);
  });

  test("run_finished's capabilities: the cache's numbers count, the compile summary is kept", () => {
    const ev = finished("a", { model_calls: 99, computed_calls: 99, cache_bytes: 0,
      capabilities: { cache: { model_calls: 8, computed_calls: 6, cache_bytes: 4096 }, compile: { compiles: 2, recompiles: 1 } } });
    delete ev.data.compute_fraction;
    const s = apply(initialState(), reduce, [started("a"), ev]);
    const r = currentRun(s);
    assert.equal(runCounts(r).computed, 6);
    assert.equal(runCounts(r).total, 8);
    assert.equal(runCounts(r).fraction, 0.75);
    assert.equal(r.summary.cache_bytes, 4096);
    assert.deepEqual(r.summary.capabilities.compile, { compiles: 2, recompiles: 1 });
  });

  test("a record brings capabilities, compiles and notices; live ones merge after them without duplicates", () => {
    const c1 = compiled("a", "blocks.0");
    const c2 = compiled("a", "blocks.1");
    const c3 = compiled("a", "blocks.0", { count: 2 });
    // c2 arrived live before the snapshot (which has c1, c2); c3 arrives after.
    let s = apply(initialState(), reduce, [started("a", { capabilities: caps({ compile: true }) }), c2]);
    s = reduce(s, { type: "history_loaded", data: { runs: [
      record("a", { capabilities: caps({ compile: true }), compiles: [c1, c2], notices: [notice("a", "n1")] }),
    ] } });
    s = reduce(s, c3);
    const r = currentRun(s);
    assert.deepEqual(r.compiles.map((c) => `${c.target}#${c.count}`), ["blocks.0#1", "blocks.1#1", "blocks.0#2"]);
    assert.ok(r.compiles.every((c) => c.run_id === "a"));
    assert.deepEqual(r.notices.map((n) => n.message), ["n1"]);
    assert.deepEqual(Object.keys(r.capabilities), ["cache", "compile"]);
    // The same snapshot again changes nothing in the run's lists.
    const again = reduce(s, { type: "history_loaded", data: { runs: [record("a", { compiles: [c1, c2] })] } });
    assert.equal(currentRun(again).compiles.length, 3);
    assert.deepEqual(Object.keys(currentRun(again).capabilities), ["cache", "compile"], "a record without capabilities keeps them");
  });

  test("a record's compiles without run_id take the record's", () => {
    const c = compiled("x", "blocks.0");
    delete c.data.run_id;
    const s = reduce(initialState(), { type: "history_loaded", data: { runs: [record("a", { compiles: [c] })] } });
    assert.equal(currentRun(s).compiles[0].run_id, "a");
  });

  test("an old record (no capabilities, compiles, notices) still loads", () => {
    const s = reduce(initialState(), { type: "history_loaded", data: { runs: [record("a")] } });
    const r = currentRun(s);
    assert.deepEqual(r.capabilities, {});
    assert.deepEqual(r.compiles, []);
    assert.deepEqual(r.notices, []);
    assert.equal(runHasCache(r), true);
  });

  test("runForNode finds runs by any capability's node id, and old ones by params.node_id", () => {
    const s = apply(initialState(), reduce, [
      started("old", { started_at: 1, params: { node_id: "12" } }),
      started("both", { started_at: 2, method: "cache:adaptive + compile", capabilities: caps({ compile: true, cacheNode: "5", compileNode: "6" }) }),
      started("compile-only", { started_at: 3, method: "compile", params: {}, capabilities: caps({ cache: null, compile: true, compileNode: "7" }) }),
      started("newest", { started_at: 4, capabilities: caps({ cacheNode: null }) }),
    ]);
    assert.equal(runForNode(s, 12).run_id, "old");
    assert.equal(runForNode(s, "5").run_id, "both");
    assert.equal(runForNode(s, 6).run_id, "both");
    assert.equal(runForNode(s, 7).run_id, "compile-only");
    assert.equal(runForNode(s, 99).run_id, "newest");
    assert.equal(nodeCapability(runForNode(s, 5), 5), "cache");
    assert.equal(nodeCapability(runForNode(s, 6), 6), "compile");
    assert.equal(nodeCapability(runForNode(s, 12), 12), "cache");
    assert.equal(nodeCapability(runForNode(s, 99), 99), null);
  });
});

describe("view state: the selected run and the open sections", () => {
  const three = () => apply(initialState(), reduce, [
    started("a", { started_at: 1 }),
    started("b", { started_at: 2 }),
    started("c", { started_at: 3 }),
  ]);

  test("selecting an older run shows it; selecting the newest, or null, follows the newest", () => {
    let s = three();
    assert.equal(shownRun(s).run_id, "c");
    assert.equal(isRunSelected(s), false);
    s = reduce(s, { type: "select_run", data: "a" });
    assert.equal(s.view.selectedRunId, "a");
    assert.equal(shownRun(s).run_id, "a");
    assert.equal(isRunSelected(s), true);
    assert.equal(currentRun(s).run_id, "c", "the current run is still the newest");
    const latest = reduce(s, { type: "select_run", data: "c" });
    assert.equal(latest.view.selectedRunId, null);
    assert.equal(reduce(s, { type: "select_run", data: null }).view.selectedRunId, null);
  });

  test("toggle_run: a second click on the selected run goes back to the newest", () => {
    let s = reduce(three(), { type: "toggle_run", data: "b" });
    assert.equal(s.view.selectedRunId, "b");
    s = reduce(s, { type: "toggle_run", data: "a" });
    assert.equal(s.view.selectedRunId, "a");
    s = reduce(s, { type: "toggle_run", data: "a" });
    assert.equal(s.view.selectedRunId, null);
  });

  test("a selection survives new events, and is dropped with its run", () => {
    let s = reduce(three(), { type: "select_run", data: "a" });
    const v = s.version;
    s = apply(s, reduce, [step("c", 0, "computed"), started("d", { started_at: 4 })]);
    assert.equal(shownRun(s).run_id, "a");
    assert.ok(s.version > v);
    s = reduce(s, { type: "set_history_length", data: 2 }); // keeps d, c
    assert.equal(s.view.selectedRunId, null);
    assert.equal(shownRun(s).run_id, "d");
  });

  test("a replacing snapshot without the selected run drops the selection, keeps the open sections", () => {
    let s = apply(three(), reduce, [
      { type: "select_run", data: "b" },
      { type: "toggle_section", data: "compiles" },
    ]);
    s = reduce(s, { type: "history_loaded", data: { runs: [record("z", { started_at: 9 })], replace: true } });
    assert.equal(s.view.selectedRunId, null);
    assert.equal(isSectionOpen(s, "compiles"), false);
    const kept = reduce(apply(three(), reduce, [{ type: "select_run", data: "b" }]), {
      type: "history_loaded", data: { runs: [record("b", { started_at: 2 }), record("c", { started_at: 3 })], replace: true },
    });
    assert.equal(kept.view.selectedRunId, "b");
  });

  test("sections start open; toggle_section and set_section_open fold and unfold them", () => {
    let s = initialState();
    assert.equal(isSectionOpen(s, "compiles"), true);
    s = reduce(s, { type: "toggle_section", data: "compiles" });
    assert.equal(isSectionOpen(s, "compiles"), false);
    assert.deepEqual(s.view.collapsed, { compiles: true });
    assert.equal(isSectionOpen(s, "runs"), true);
    s = reduce(s, { type: "toggle_section", data: "compiles" });
    assert.equal(isSectionOpen(s, "compiles"), true);
    assert.deepEqual(s.view.collapsed, {});
    s = reduce(s, { type: "set_section_open", data: { section: "run-compiles", open: false } });
    assert.equal(isSectionOpen(s, "run-compiles"), false);
    const same = reduce(s, { type: "set_section_open", data: { section: "run-compiles", open: false } });
    assert.equal(same, s);
  });

  test("view actions bump the version and never touch the runs", () => {
    const s = three();
    const t = reduce(s, { type: "toggle_section", data: "runs" });
    assert.equal(t.version, s.version + 1);
    assert.equal(t.runs, s.runs);
    const u = reduce(t, { type: "select_run", data: "a" });
    assert.equal(u.version, t.version + 1);
    assert.equal(u.runs, t.runs);
  });

  test("view actions never mutate their input", () => {
    const s = three();
    const frozen = structuredClone(s);
    apply(s, reduce, [
      { type: "select_run", data: "a" },
      { type: "toggle_section", data: "runs" },
      { type: "set_section_open", data: { section: "x", open: false } },
    ]);
    assert.deepEqual(s, frozen);
  });
});
