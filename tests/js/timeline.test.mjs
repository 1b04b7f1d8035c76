import assert from "node:assert/strict";
import { test } from "node:test";

import { initialState, reduce } from "../../web/js/store.js";
import { actionClass, branchOrder, layoutTimeline, signalTrace } from "../../web/js/timeline.js";
import { apply, started, step } from "./helpers.mjs";

const runOf = (actions) => apply(initialState(), reduce, actions).runs[0];

test("action classes", () => {
  assert.equal(actionClass("computed"), "ab-cell-computed");
  assert.equal(actionClass("reused"), "ab-cell-reused");
  assert.equal(actionClass("extrapolated"), "ab-cell-extrapolated");
  assert.equal(actionClass("mixed"), "ab-cell-mixed");
  assert.equal(actionClass("whatever"), "ab-cell-pending");
});

test("branch order: cond, condN, uncond, others", () => {
  assert.deepEqual(branchOrder(["uncond", "zeta", "cond2", "cond", "cond10", "cond1", "alpha", "cond"]), [
    "cond",
    "cond1",
    "cond2",
    "cond10",
    "uncond",
    "alpha",
    "zeta",
  ]);
});

test("one row per branch, one cell per step, pending until decided", () => {
  const run = runOf([
    started("a", { total_steps: 5 }),
    step("a", 0, "computed", { branch: "uncond" }),
    step("a", 0, "computed", { branch: "cond" }),
    step("a", 1, "reused", { branch: "cond" }),
    step("a", 1, "reused", { branch: "uncond" }),
    step("a", 2, "extrapolated", { branch: "cond" }),
  ]);
  const layout = layoutTimeline(run);
  assert.equal(layout.steps, 5);
  assert.deepEqual(
    layout.rows.map((r) => r.branch),
    ["cond", "uncond"],
  );
  assert.deepEqual(
    layout.rows[0].cells.map((c) => c.action),
    ["computed", "reused", "extrapolated", "pending", "pending"],
  );
  assert.deepEqual(
    layout.rows[1].cells.map((c) => c.cls),
    ["ab-cell-computed", "ab-cell-reused", "ab-cell-pending", "ab-cell-pending", "ab-cell-pending"],
  );
  assert.equal(layout.rows[0].cells[0].sigma, 1);
  assert.equal(layout.rows[0].cells[3].count, 0);
});

test("steps beyond total_steps widen the timeline; no total uses the highest step", () => {
  const run = runOf([started("a", { total_steps: 2 }), step("a", 3, "computed")]);
  assert.equal(layoutTimeline(run).steps, 4);
  const noTotal = runOf([step("b", 2, "reused")]);
  assert.equal(layoutTimeline(noTotal).steps, 3);
  assert.deepEqual(layoutTimeline({ steps: [], total_steps: 3 }), { steps: 3, rows: [] });
  assert.deepEqual(layoutTimeline(null), { steps: 0, rows: [] });
});

test("two evaluations in one step (Heun): agreeing keeps the action, disagreeing is mixed", () => {
  const run = runOf([
    started("a", { total_steps: 2 }),
    step("a", 0, "computed", { sigma: 1.0 }),
    step("a", 0, "computed", { sigma: 0.9 }),
    step("a", 1, "computed", { sigma: 0.8 }),
    step("a", 1, "reused", { sigma: 0.7 }),
  ]);
  const cells = layoutTimeline(run).rows[0].cells;
  assert.equal(cells[0].action, "computed");
  assert.equal(cells[0].count, 2);
  assert.equal(cells[1].action, "mixed");
  assert.equal(cells[1].cls, "ab-cell-mixed");
});

test("signal trace is normalised into the box", () => {
  const run = runOf([
    started("a", { total_steps: 3 }),
    step("a", 0, "computed", { signal: 0, threshold: 0.5 }),
    step("a", 1, "reused", { signal: 0.5, threshold: 0.5 }),
    step("a", 2, "computed", { signal: 1.0, threshold: 0.5 }),
    step("a", 0, "computed", { branch: "uncond", signal: 100 }),
  ]);
  const t = signalTrace(run, { width: 100, height: 50, pad: 0 });
  assert.equal(t.branch, "cond");
  assert.ok(Math.abs(t.max - 1.1) < 1e-9);
  // x: 0, 50, 100; y: 50 - v / 1.1 * 50
  assert.equal(t.signal, "M0 50 L50 27.27 L100 4.55");
  assert.equal(t.threshold, "M0 27.27 L50 27.27 L100 27.27");
  assert.equal(t.points.length, 3);
  assert.equal(t.points[1].action, "reused");
  for (const p of t.points) {
    assert.ok(p.x >= 0 && p.x <= 100 && p.y >= 0 && p.y <= 50);
  }
});

test("signal trace: padding, gaps break the line, explicit branch, no signal gives null", () => {
  const run = runOf([
    started("a", { total_steps: 4 }),
    step("a", 0, "computed", { signal: 1, threshold: null }),
    step("a", 1, "computed", { signal: null, threshold: null }),
    step("a", 2, "reused", { signal: 1, threshold: null }),
    step("a", 3, "reused", { signal: 1, threshold: null }),
    step("a", 0, "computed", { branch: "uncond", signal: 2 }),
  ]);
  const t = signalTrace(run, { width: 32, height: 24, pad: 2 });
  assert.equal(t.threshold, "");
  assert.match(t.signal, /^M2 \S+ M\S+ \S+ L\S+ \S+$/);
  for (const p of t.points) {
    assert.ok(p.x >= 2 && p.x <= 30 && p.y >= 2 && p.y <= 22, JSON.stringify(p));
  }
  assert.equal(signalTrace(run, { branch: "uncond" }).points.length, 1);
  assert.equal(signalTrace(run, { branch: "nope" }), null);
  const periodic = runOf([started("p"), step("p", 0, "computed", { signal: null, threshold: null })]);
  assert.equal(signalTrace(periodic), null);
  assert.equal(signalTrace({ steps: [] }), null);
});

test("signal trace of a single step sits in the middle", () => {
  const run = runOf([step("a", 0, "computed", { signal: 0.2 })]);
  const t = signalTrace(run, { width: 10, height: 10, pad: 0 });
  assert.equal(t.points[0].x, 5);
});
