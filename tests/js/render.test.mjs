import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { focusKeyOf, restoreFocus } from "../../web/js/focus.js";
import { renderSidebar } from "../../web/js/render.js";
import { initialState, reduce } from "../../web/js/store.js";
import { fakeDocument } from "./fakedom.mjs";
import { apply, caps, compiled, finished, notice, started, step } from "./helpers.mjs";

const NOW = 2000;
const render = (state, opts = {}) => {
  const doc = fakeDocument();
  return { doc, root: renderSidebar(doc, state, { now: NOW, ...opts }) };
};
const text = (el) => el?.textContent ?? null;
const sectionOf = (root, id) => root.querySelector(`[data-ab-section="${id}"]`);

const cacheAndCompile = () =>
  apply(initialState(), reduce, [
    started("a", { method: "cache:adaptive + compile", capabilities: caps({ compile: true }) }),
    compiled("a", "double_blocks.0", { duration_s: 3.2 }),
    step("a", 0, "computed"),
    compiled("a", "double_blocks.0", { count: 2, reason: "size of x changed: 64 -> 96", duration_s: 1.1 }),
    step("a", 1, "reused"),
  ]);

const compileOnly = () =>
  apply(initialState(), reduce, [
    started("c", { method: "compile", params: {}, total_steps: 3, capabilities: caps({ cache: null, compile: true }) }),
    compiled("c", "single_blocks.0", { duration_s: 2 }),
    compiled("c", "single_blocks.1", { duration_s: 1 }),
    finished("c", { model_calls: 3, computed_calls: 3, capabilities: { compile: { compiles: 2, recompiles: 0 } } }),
  ]);

describe("the run detail view", () => {
  test("an empty state: every section, each with a title button keyed for focus", () => {
    const { root } = render(initialState());
    const ids = root.querySelectorAll("[data-ab-section]").map((el) => el.getAttribute("data-ab-section"));
    assert.deepEqual(ids, ["current", "compiles", "runs", "attention", "quantization"]);
    for (const id of ids) {
      const toggle = sectionOf(root, id).querySelector('[data-ab-action="toggle-section"]');
      assert.equal(toggle.getAttribute("data-focus-key"), `section:${id}`);
      assert.equal(toggle.getAttribute("aria-expanded"), "true");
    }
    assert.match(text(sectionOf(root, "attention")), /Not active in this workflow/);
  });

  test("capability chips, the timeline, and the run's compiles with target, kind, reason and duration", () => {
    const { root } = render(cacheAndCompile());
    const current = sectionOf(root, "current");
    assert.deepEqual(
      current.querySelectorAll(".ab-chip").map((c) => [c.getAttribute("data-capability"), text(c)]),
      [["cache", "cache: adaptive"], ["compile", "compile"]],
    );
    assert.ok(current.querySelector('[data-ab-field="timeline"]'));
    assert.ok(current.querySelector('[data-ab-field="calls"]'));
    const items = current.querySelectorAll('[data-ab-field="run-compiles"] .ab-run-compile');
    assert.equal(items.length, 2);
    assert.equal(text(items[0].querySelector(".ab-compile-target")), "double_blocks.0");
    assert.equal(text(items[0].querySelector(".ab-compile-reason")), "first compile");
    assert.equal(text(items[0].querySelector(".ab-compile-duration")), "3.20 s");
    assert.equal(text(items[1].querySelector(".ab-compile-reason")), "recompile #2: size of x changed: 64 -> 96");
    assert.equal(text(current.querySelector('[data-ab-field="compile-count"]')), "2 compiles (1 recompile)");
    // The process-wide compile history is still there, newest first.
    const history = sectionOf(root, "compiles").querySelectorAll(".ab-compile");
    assert.equal(history.length, 2);
    assert.match(text(history[0]), /recompile #2/);
  });

  test("a compile-only run: no timeline but a placeholder, its compile counts, and a run in the list", () => {
    const { root } = render(compileOnly());
    const current = sectionOf(root, "current");
    assert.equal(current.getAttribute("data-run-id"), "c");
    assert.equal(current.querySelector('[data-ab-field="timeline"]'), null);
    assert.match(text(current.querySelector('[data-ab-empty="timeline"]')), /no cache in this run/i);
    assert.equal(current.querySelector('[data-ab-field="calls"]'), null);
    assert.equal(text(current.querySelector('[data-ab-field="compiles"]')), "2");
    assert.equal(text(current.querySelector('[data-ab-field="recompiles"]')), "0");
    assert.equal(text(current.querySelector('[data-ab-field="compile-time"]')), "3.00 s");
    assert.equal(text(current.querySelector('[data-ab-field="total-steps"]')), "3 steps");
    assert.deepEqual(current.querySelectorAll(".ab-chip").map(text), ["compile"]);
    assert.equal(current.querySelectorAll(".ab-run-compile").length, 2);
    const listed = sectionOf(root, "runs").querySelector('[data-run-id="c"]');
    assert.equal(text(listed.querySelector('[data-ab-field="compiles"]')), "2 compiles");
    assert.equal(listed.querySelector('[data-ab-field="calls"]'), null);
  });

  test("a compile-only run that compiled nothing says so", () => {
    const s = apply(initialState(), reduce, [
      started("c", { method: "compile", params: {}, capabilities: caps({ cache: null, compile: true }) }),
      finished("c", { capabilities: { compile: { compiles: 0, recompiles: 0 } } }),
    ]);
    const { root } = render(s);
    assert.match(text(sectionOf(root, "current").querySelector('[data-ab-empty="run-compiles"]')), /nothing compiled/i);
  });

  test("an old-shape run (no capabilities): chips from its method, the timeline as before", () => {
    const s = apply(initialState(), reduce, [started("a"), step("a", 0, "computed"), finished("a")]);
    const { root } = render(s);
    const current = sectionOf(root, "current");
    assert.deepEqual(current.querySelectorAll(".ab-chip").map(text), ["cache: adaptive"]);
    assert.ok(current.querySelector('[data-ab-field="timeline"]'));
    assert.equal(text(current.querySelector('[data-ab-field="calls"]')), "3/4");
    assert.equal(current.querySelector('[data-ab-field="run-compiles"]'), null);
  });

  test("a run's notices are listed under it", () => {
    const s = apply(initialState(), reduce, [started("a"), notice("a", "fell back to eager")]);
    const { root } = render(s);
    assert.match(text(sectionOf(root, "current").querySelector('[data-ab-field="run-notices"]')), /fell back to eager/);
  });
});

describe("view state in the render", () => {
  test("a shut section keeps its title and drops its body", () => {
    const s = reduce(cacheAndCompile(), { type: "toggle_section", data: "compiles" });
    const { root } = render(s);
    const section = sectionOf(root, "compiles");
    assert.equal(section.getAttribute("data-collapsed"), "true");
    assert.equal(section.querySelectorAll(".ab-compile").length, 0);
    assert.equal(section.querySelector('[data-ab-action="toggle-section"]').getAttribute("aria-expanded"), "false");
    assert.equal(sectionOf(root, "runs").getAttribute("data-collapsed"), null);
  });

  test("a run's compiles fold on their own", () => {
    const s = reduce(cacheAndCompile(), { type: "toggle_section", data: "run-compiles" });
    const { root } = render(s);
    const sub = sectionOf(root, "current").querySelector('[data-ab-field="run-compiles"]');
    assert.ok(sub);
    assert.equal(sub.querySelectorAll(".ab-run-compile").length, 0);
    assert.ok(sectionOf(root, "current").querySelector('[data-ab-field="timeline"]'));
  });

  test("the selected run is shown with a 'show latest' button that falls back to the section title", () => {
    const s = apply(cacheAndCompile(), reduce, [started("b", { started_at: 5000 }), { type: "select_run", data: "a" }]);
    const { root } = render(s);
    const current = sectionOf(root, "current");
    assert.equal(current.getAttribute("data-run-id"), "a");
    assert.match(text(current.querySelector(".ab-section-title")), /Selected run/);
    const button = current.querySelector('[data-ab-action="show-latest"]');
    assert.equal(button.getAttribute("data-focus-key"), "show-latest");
    assert.equal(button.getAttribute("data-focus-fallback"), "section:current");
    assert.ok(sectionOf(root, "runs").querySelector('[data-run-id="a"]').classList.includes("ab-run-shown"));
  });

  test("focus keys are unique in a render", () => {
    const s = apply(cacheAndCompile(), reduce, [started("b", { started_at: 5000 }), { type: "select_run", data: "a" }]);
    const keys = render(s).root.querySelectorAll("[data-focus-key]").map((el) => el.getAttribute("data-focus-key"));
    assert.equal(new Set(keys).size, keys.length, keys.join(", "));
    assert.ok(keys.includes("run:a") && keys.includes("run:b"));
  });
});

describe("keyboard focus across a redraw", () => {
  // As afterburner.js's renderInto does it: read the key, replace the children, focus the equivalent.
  const redraw = (doc, container, state) => {
    const saved = focusKeyOf(container, doc.activeElement);
    container.replaceChildren(renderSidebar(doc, state, { now: NOW }));
    return restoreFocus(container, saved);
  };

  test("a focused run in the list is focused again after a new event redraws the sidebar", () => {
    const doc = fakeDocument();
    const container = doc.createElement("div");
    let s = apply(initialState(), reduce, [started("a", { started_at: 1 }), started("b", { started_at: 2 })]);
    container.replaceChildren(renderSidebar(doc, s, { now: NOW }));
    const old = container.querySelector('[data-focus-key="run:a"]');
    old.focus();
    s = reduce(s, step("b", 0, "computed"));
    const back = redraw(doc, container, s);
    assert.notEqual(back, null);
    assert.notEqual(doc.activeElement, old, "a new element");
    assert.equal(doc.activeElement, back);
    assert.equal(doc.activeElement.getAttribute("data-focus-key"), "run:a");
    assert.ok(container.contains(doc.activeElement));
  });

  test("a section's title button keeps focus after it folds the section", () => {
    const doc = fakeDocument();
    const container = doc.createElement("div");
    let s = cacheAndCompile();
    container.replaceChildren(renderSidebar(doc, s, { now: NOW }));
    container.querySelector('[data-focus-key="section:compiles"]').focus();
    s = reduce(s, { type: "toggle_section", data: "compiles" });
    redraw(doc, container, s);
    assert.equal(doc.activeElement.getAttribute("data-focus-key"), "section:compiles");
    assert.equal(doc.activeElement.getAttribute("aria-expanded"), "false");
  });

  test("'show latest' goes away once used: focus falls back to the current section's title", () => {
    const doc = fakeDocument();
    const container = doc.createElement("div");
    let s = apply(initialState(), reduce, [started("a", { started_at: 1 }), started("b", { started_at: 2 }), { type: "select_run", data: "a" }]);
    container.replaceChildren(renderSidebar(doc, s, { now: NOW }));
    container.querySelector('[data-focus-key="show-latest"]').focus();
    s = reduce(s, { type: "select_run", data: null });
    redraw(doc, container, s);
    assert.equal(doc.activeElement.getAttribute("data-focus-key"), "section:current");
  });

  test("focus outside the sidebar is left alone", () => {
    const doc = fakeDocument();
    const container = doc.createElement("div");
    const outside = doc.createElement("input");
    doc.body.append(outside, container);
    container.replaceChildren(renderSidebar(doc, initialState(), { now: NOW }));
    outside.focus();
    assert.equal(focusKeyOf(container, doc.activeElement), null);
    assert.equal(redraw(doc, container, reduce(initialState(), started("a"))), null);
    assert.equal(doc.activeElement, outside);
  });
});
