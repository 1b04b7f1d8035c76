// End-to-end: a real ComfyUI (CPU) with Afterburner and its dev pack, driven in Debian's Chromium by
// playwright-core. Opens the Afterburner sidebar tab, checks its sections, runs a tiny workflow through
// an Afterburner cache node, and checks the sidebar's live counts against GET /api/afterburner/runs.
//
//   npm run test:browser        (artifacts: tests/artifacts/sidebar*.png)

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";

import { ARTIFACTS, openBrowser, openTab as openTabIn, request, startServer, stopServer, waitFor } from "./comfy_browser.mjs";

const OUR_CODE = "/extensions/afterburner/";
const SECTIONS = ["current", "compiles", "runs", "attention", "quantization"];

let server; // {proc, url, logPath}
let browser; // {context, page, close}
let page;
let screenshotTaken = false;
let realRun = null; // the RunRecord of the real cache run, for the new-contract checks
const ourErrors = []; // console errors and page errors that come from our extension's files
const allErrors = [];

const api = (pathname, body) => request(server.url, pathname, body);
const openTab = () => openTabIn(page);

before(async () => {
  server = await startServer();
  browser = await openBrowser(server);
  page = browser.page;
  page.on("console", (msg) => {
    const where = msg.location()?.url ?? "";
    const entry = `${msg.type()}: ${msg.text()} @ ${where}`;
    // Our code reports its own failures (a route that failed, a render that threw) as "[Afterburner]" warnings.
    if (msg.type() === "warning" && msg.text().startsWith("[Afterburner]")) ourErrors.push(entry);
    if (msg.type() !== "error") return;
    allErrors.push(entry);
    if (where.includes(OUR_CODE) || msg.text().includes(OUR_CODE) || msg.text().includes("[Afterburner]")) ourErrors.push(entry);
  });
  page.on("pageerror", (err) => {
    const entry = `${err.message}\n${err.stack ?? ""}`;
    allErrors.push(entry);
    if (entry.includes(OUR_CODE)) ourErrors.push(entry);
  });
  await page.goto(server.url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(
    () => window.app?.extensionManager && Array.isArray(window.app.extensions) && window.app.graph,
    null,
    { timeout: 60_000 },
  );
});

after(async () => {
  await browser?.close();
  await stopServer(server);
});

test("the extension is registered with its settings and About badge", async () => {
  const info = await page.evaluate(() => {
    const ext = window.app.extensions.find((e) => e.name === "afterburner.sidebar");
    const setting = window.app.extensionManager.setting;
    return {
      registered: Boolean(ext),
      settings: ext?.settings?.map((s) => s.id) ?? [],
      history: setting.get("Afterburner.Sidebar.HistoryLength"),
      trace: setting.get("Afterburner.Sidebar.ShowSignalTrace"),
      badges: ext?.aboutPageBadges?.map((b) => b.label) ?? [],
      css: Boolean(document.querySelector("link[data-afterburner-css]")),
    };
  });
  assert.equal(info.registered, true);
  assert.deepEqual(info.settings, ["Afterburner.Sidebar.HistoryLength", "Afterburner.Sidebar.ShowSignalTrace"]);
  assert.equal(info.history, 20);
  assert.equal(info.trace, true);
  assert.equal(info.css, true);
  const health = await api("/api/afterburner/health");
  await page.waitForFunction(
    (label) => window.app.extensions.find((e) => e.name === "afterburner.sidebar").aboutPageBadges[0].label === label,
    `Afterburner v${health.version}`,
    { timeout: 10_000 },
  );
});

test("the sidebar tab opens and renders its sections", async () => {
  await openTab();
  for (const id of SECTIONS) {
    assert.equal(await page.locator(`.ab-sidebar [data-ab-section="${id}"]`).count(), 1, `section ${id}`);
  }
  for (const id of ["attention", "quantization"]) {
    const text = await page.locator(`.ab-sidebar [data-ab-section="${id}"]`).innerText();
    assert.match(text, /not active in this workflow/i);
    assert.doesNotMatch(text, /coming soon/i);
  }
  // The stylesheet applied (the section border comes from afterburner.css).
  const border = await page.locator('.ab-sidebar [data-ab-section="runs"]').evaluate((el) => getComputedStyle(el).borderBottomStyle);
  assert.equal(border, "solid");
});

test("a workflow with an Afterburner cache node: the sidebar's counts equal /api/afterburner/runs", async (t) => {
  const objectInfo = await api("/api/object_info");
  const cacheNodes = Object.keys(objectInfo).filter(
    (name) => name.startsWith("Afterburner") && !name.startsWith("AfterburnerDev") && objectInfo[name].output?.[0] === "MODEL" &&
      Object.keys(objectInfo[name].input?.required ?? {}).includes("model"),
  );
  if (!cacheNodes.length) {
    t.skip("no Afterburner cache node in /api/object_info yet: live counts not checked");
    return;
  }
  // Prefer the adaptive cache (it reports a signal, so the trace has something to draw).
  const cacheNode = ["AfterburnerAdaptiveCache", "AfterburnerFirstBlockCache"].find((n) => cacheNodes.includes(n)) ?? cacheNodes[0];
  const cacheInputs = {};
  for (const [name, spec] of Object.entries(objectInfo[cacheNode].input.required)) {
    if (name === "model") continue;
    const [type, opts = {}] = spec;
    if (Array.isArray(type)) cacheInputs[name] = opts.default ?? type[0];
    else if (type === "COMBO") cacheInputs[name] = opts.default ?? opts.options?.[0];
    else if ("default" in opts) cacheInputs[name] = opts.default;
  }
  if (cacheNode === "AfterburnerAdaptiveCache") cacheInputs.threshold = 0.05; // some reuse on a tiny model
  const family = "flux";
  const steps = 12;
  const prompt = {
    1: { class_type: "AfterburnerDevTinyModel", inputs: { family, seed: 0 } },
    2: { class_type: "AfterburnerDevTinyConditioning", inputs: { family, seed: 1, batch: 1 } },
    3: { class_type: "AfterburnerDevTinyConditioning", inputs: { family, seed: 2, batch: 1 } },
    4: { class_type: "AfterburnerDevTinyLatent", inputs: { family, width: 64, height: 64, frames: 1, batch: 1 } },
    5: { class_type: cacheNode, inputs: { model: ["1", 0], ...cacheInputs } },
    6: {
      class_type: "KSampler",
      inputs: {
        model: ["5", 0],
        seed: 0,
        steps,
        cfg: 2.0,
        sampler_name: "euler",
        scheduler: "simple",
        positive: ["2", 0],
        negative: ["3", 0],
        latent_image: ["4", 0],
        denoise: 1.0,
      },
    },
    7: { class_type: "SaveLatent", inputs: { samples: ["6", 0], filename_prefix: "latents/afterburner_browser_test" } },
  };
  // Show the same workflow on the canvas, so the node badge is drawn in the screenshot.
  await page.evaluate((p) => window.app.loadApiJson(structuredClone(p), "afterburner-test"), prompt);

  const before = (await api("/api/afterburner/runs")).runs.map((r) => r.run_id);
  const { prompt_id: promptId } = await api("/api/prompt", { prompt, client_id: "afterburner-browser-test" });
  await waitFor(
    async () => {
      const entry = (await api(`/api/history/${promptId}`))[promptId];
      if (entry?.status?.status_str === "error") throw new Error(`prompt failed: ${JSON.stringify(entry.status.messages).slice(0, 2000)}`);
      return entry?.status?.completed;
    },
    { timeout: 60_000, what: "the prompt to finish" },
  );
  const run = await waitFor(
    async () => {
      const r = (await api("/api/afterburner/runs")).runs.find((x) => !before.includes(x.run_id));
      return r && r.status !== "running" && r.summary ? r : null;
    },
    { timeout: 10_000, what: "the run's summary in /api/afterburner/runs" },
  );
  assert.equal(run.status, "ok");
  assert.equal(run.total_steps, steps);
  realRun = run;
  const calls = `${run.summary.computed_calls}/${run.summary.model_calls}`;
  const expected = `${calls} computed`;

  const current = page.locator(`.ab-sidebar [data-ab-section="current"][data-run-id="${run.run_id}"]`);
  await current.waitFor({ state: "visible", timeout: 15_000 });
  await page.waitForFunction(
    ({ id, text }) => {
      const el = document.querySelector(`.ab-sidebar [data-ab-section="current"][data-run-id="${id}"] [data-ab-field="calls"]`);
      return el?.textContent === text;
    },
    { id: run.run_id, text: calls },
    { timeout: 15_000 },
  );
  assert.equal(await current.locator('[data-ab-field="calls"]').innerText(), calls);
  assert.equal(await current.locator('[data-ab-field="status"]').innerText(), "finished");
  assert.equal(await current.locator('[data-ab-field="model"]').innerText(), run.model);
  const pct = Math.round(run.summary.compute_fraction * 100);
  assert.equal(await current.locator('[data-ab-field="fraction"]').innerText(), `${pct}%`);
  const speedup = run.summary.model_calls / run.summary.computed_calls;
  assert.equal(await current.locator('[data-ab-field="speedup"]').innerText(), `${speedup.toFixed(2)}×`);
  assert.equal(await current.locator('[data-ab-field="progress"]').innerText(), `step ${steps}/${steps}`);

  // Every step decision arrived live over the websocket, exactly once.
  const live = await page.evaluate(
    (id) => window.app.extensions.find((e) => e.name === "afterburner.sidebar").getState().runs.find((r) => r.run_id === id),
    run.run_id,
  );
  assert.equal(live.steps.length, run.steps.length);
  for (const action of ["computed", "reused", "extrapolated"]) {
    const n = (list) => list.filter((s) => s.action === action).length;
    assert.equal(n(live.steps), n(run.steps), `${action} steps`);
  }
  // The timeline: one row per branch, one cell per step, and the cells' classes match the actions.
  const branches = [...new Set(run.steps.map((s) => s.branch))];
  assert.equal(await current.locator(".ab-timeline-row").count(), branches.length);
  assert.equal(await current.locator(".ab-timeline-row .ab-cell").count(), branches.length * steps);
  const reusedCells = await current.locator(".ab-timeline-row .ab-cell-reused, .ab-timeline-row .ab-cell-extrapolated").count();
  assert.equal(reusedCells, run.steps.filter((s) => s.action !== "computed").length);
  // The recent-runs list shows the same counts.
  const listed = page.locator(`.ab-sidebar [data-ab-section="runs"] [data-run-id="${run.run_id}"] [data-ab-field="calls"]`);
  assert.equal(await listed.innerText(), expected);

  // Let the canvas redraw with the node badge, then keep a picture for people to look at.
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(ARTIFACTS, "sidebar.png") });
  screenshotTaken = true;

  // A fresh page catches up from the routes alone, with the same numbers.
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.app?.extensionManager && window.app.graph, null, { timeout: 60_000 });
  await openTab();
  await page.waitForFunction(
    ({ id, text }) =>
      document.querySelector(`.ab-sidebar [data-ab-section="runs"] [data-run-id="${id}"] [data-ab-field="calls"]`)?.textContent === text,
    { id: run.run_id, text: expected },
    { timeout: 15_000 },
  );
});

test("compile events and notices: listed, warnings toasted; settings apply; reconnect refetches", async () => {
  await openTab();
  // Synthetic events, dispatched where the websocket handler would (only this page sees them).
  await page.evaluate(() => {
    const api = window.comfyAPI.api.api;
    api.dispatchCustomEvent("afterburner.compile", {
      model: "Flux", target: "double_blocks.0", recompile: true, reason: "tensor 'x' size changed: 64 -> 96",
      duration_s: 3.2, count: 2,
    });
    api.dispatchCustomEvent("afterburner.notice", {
      severity: "warning", source: "attention", message: "SageAttention is not installed: using PyTorch SDPA", at: 1e9,
    });
    api.dispatchCustomEvent("afterburner.notice", { severity: "info", source: "cache", message: "an info line", at: 1e9 + 1 });
  });
  const compiles = page.locator('.ab-sidebar [data-ab-section="compiles"]');
  await compiles.locator(".ab-compile").first().waitFor({ timeout: 5000 });
  assert.match(await compiles.innerText(), /double_blocks\.0[\s\S]*recompile #2: tensor 'x' size changed/);
  const notices = page.locator('.ab-sidebar [data-ab-section="notices"]');
  assert.equal(await notices.locator(".ab-notice").count(), 2);
  assert.equal(await notices.locator(".ab-notice-warning").count(), 1);
  // A warning gets a toast; an info notice does not.
  const toast = page.locator(".p-toast-message", { hasText: "SageAttention is not installed" });
  await toast.first().waitFor({ state: "visible", timeout: 5000 });
  assert.equal(await page.locator(".p-toast-message", { hasText: "an info line" }).count(), 0);

  // An interrupted run (synthetic) becomes the current one and shows its status and message.
  const realRunId = await page.evaluate(
    () => window.app.extensions.find((e) => e.name === "afterburner.sidebar").getState().runs[0]?.run_id ?? null,
  );
  await page.evaluate(() => {
    const api = window.comfyAPI.api.api;
    const run_id = "synthetic-interrupted";
    api.dispatchCustomEvent("afterburner.run_started", {
      run_id, model: "WAN21", method: "cache:periodic", params: {}, total_steps: 6, started_at: Date.now() / 1000,
    });
    for (const [step, action] of [[0, "computed"], [1, "reused"], [2, "computed"]]) {
      api.dispatchCustomEvent("afterburner.step", { run_id, step, sigma: 1 - step / 6, branch: "cond", action, signal: null, threshold: null });
      api.dispatchCustomEvent("afterburner.step", { run_id, step, sigma: 1 - step / 6, branch: "cond", action, signal: null, threshold: null });
    }
    api.dispatchCustomEvent("afterburner.run_finished", {
      run_id, status: "interrupted", total_steps: 6, model_calls: 3, computed_calls: 2, wall_s: 0.4, cache_bytes: 0,
      message: "Interrupted at step 3 of 6", compute_fraction: 2 / 3,
    });
  });
  const current = page.locator('.ab-sidebar [data-ab-section="current"][data-run-id="synthetic-interrupted"]');
  await current.waitFor({ timeout: 5000 });
  assert.equal(await current.locator('[data-ab-field="status"]').innerText(), "interrupted");
  assert.equal(await current.locator('[data-ab-field="calls"]').innerText(), "2/3");
  assert.equal(await current.locator('[data-ab-field="progress"]').innerText(), "step 3/6");
  assert.match(await current.innerText(), /Interrupted at step 3 of 6/);
  assert.equal(await current.locator(".ab-cell-pending").count(), 3);
  // Selecting an older run in the list shows it; "show latest" goes back.
  if (realRunId) {
    await page.locator(`.ab-sidebar [data-ab-section="runs"] [data-run-id="${realRunId}"]`).click();
    await page.locator(`.ab-sidebar [data-ab-section="current"][data-run-id="${realRunId}"]`).waitFor({ timeout: 5000 });
    await page.locator('.ab-sidebar [data-ab-action="show-latest"]').click();
    await current.waitFor({ timeout: 5000 });
  }

  // Settings: the signal trace can be hidden, the history shortened.
  const setting = (id, value) => page.evaluate(([k, v]) => window.app.extensionManager.setting.set(k, v), [id, value]);
  if (await page.locator('.ab-sidebar [data-ab-field="trace"]').count()) {
    await setting("Afterburner.Sidebar.ShowSignalTrace", false);
    await page.waitForFunction(() => !document.querySelector('.ab-sidebar [data-ab-field="trace"]'), null, { timeout: 5000 });
    await setting("Afterburner.Sidebar.ShowSignalTrace", true);
    await page.locator('.ab-sidebar [data-ab-field="trace"]').waitFor({ timeout: 5000 });
  }
  await setting("Afterburner.Sidebar.HistoryLength", 1);
  await page.waitForFunction(() => document.querySelectorAll('.ab-sidebar [data-ab-section="runs"] .ab-run').length <= 1, null, { timeout: 5000 });

  // After a websocket reconnect the sidebar catches up from the routes.
  const refetch = page.waitForRequest((req) => req.url().includes("/api/afterburner/runs"), { timeout: 5000 });
  await page.evaluate(() => window.comfyAPI.api.api.dispatchCustomEvent("reconnected"));
  await refetch;
  await setting("Afterburner.Sidebar.HistoryLength", 20);
});

// --- the new event contract (capabilities, compiles and notices per run) ----------------------------------

// NEEDS THE NEW BACKEND: the RunRecord fields capabilities, compiles and notices come from the server.
test("new backend: the real cache run's record has capabilities, compiles and notices, and the sidebar lists them", async (t) => {
  if (!realRun) {
    t.skip("no real cache run (the run test was skipped or failed)");
    return;
  }
  const record = (await api("/api/afterburner/runs")).runs.find((r) => r.run_id === realRun.run_id);
  assert.ok(record, "the run is still listed");
  assert.equal(typeof record.capabilities, "object", "RunRecord.capabilities");
  assert.ok(record.capabilities.cache, "a cache capability");
  assert.equal(String(record.capabilities.cache.node_id), "5", "the cache node's id lives in capabilities.cache.node_id");
  assert.equal(typeof record.capabilities.cache.label, "string");
  assert.ok(Array.isArray(record.compiles), "RunRecord.compiles");
  assert.ok(Array.isArray(record.notices), "RunRecord.notices");
  assert.equal(typeof record.summary.capabilities?.cache, "object", "run_finished's capabilities.cache in the summary");
  // The sidebar's copy of the run has the same capabilities, shown as chips.
  const live = await page.evaluate((id) => {
    const s = window.app.extensions.find((e) => e.name === "afterburner.sidebar").getState();
    return s.runs.find((r) => r.run_id === id) ?? null;
  }, realRun.run_id);
  assert.deepEqual(Object.keys(live.capabilities), Object.keys(record.capabilities));
  await openTab();
  await page.locator(`.ab-sidebar [data-ab-section="runs"] [data-run-id="${realRun.run_id}"]`).click();
  const current = page.locator(`.ab-sidebar [data-ab-section="current"][data-run-id="${realRun.run_id}"]`);
  await current.waitFor({ timeout: 5000 });
  const chips = await current.locator(".ab-chip").evaluateAll((els) => els.map((el) => el.getAttribute("data-capability")));
  assert.deepEqual(chips, Object.keys(record.capabilities));
});

test("new contract (synthetic events): compiles under their run, capability chips, a compile-only run", async () => {
  await openTab();
  await page.evaluate(() => {
    const api = window.comfyAPI.api.api;
    const now = Date.now() / 1000;
    const both = "synthetic-cache-compile";
    api.dispatchCustomEvent("afterburner.run_started", {
      run_id: both, model: "Flux", method: "cache:adaptive + compile", params: { threshold: 0.1 }, total_steps: 4,
      started_at: now, capabilities: {
        cache: { label: "cache:adaptive", params: { threshold: 0.1 }, node_id: "905" }, // labels as py/run/context.py makes them
        compile: { label: "compile", params: { backend: "inductor" }, node_id: "906" },
      },
    });
    api.dispatchCustomEvent("afterburner.compile", {
      run_id: both, model: "Flux", target: "synthetic_blocks.0", recompile: false, reason: "", duration_s: 4.5, count: 1,
    });
    for (const [step, action] of [[0, "computed"], [1, "reused"]]) {
      api.dispatchCustomEvent("afterburner.step", { run_id: both, step, sigma: 1 - step / 4, branch: "cond", action, signal: 0.01, threshold: 0.05 });
    }
    api.dispatchCustomEvent("afterburner.compile", {
      run_id: both, model: "Flux", target: "synthetic_blocks.0", recompile: true, reason: "size of x changed: 64 -> 96",
      duration_s: 1.25, count: 2,
    });
    api.dispatchCustomEvent("afterburner.notice", {
      run_id: both, severity: "info", source: "compile", message: "synthetic run notice", at: now,
    });
    api.dispatchCustomEvent("afterburner.run_finished", {
      run_id: both, status: "ok", total_steps: 4, model_calls: 4, computed_calls: 3, wall_s: 2, cache_bytes: 0, message: "",
      compute_fraction: 0.75, capabilities: { cache: { model_calls: 4, computed_calls: 3, cache_bytes: 0 }, compile: { compiles: 2, recompiles: 1 } },
    });
  });
  let current = page.locator('.ab-sidebar [data-ab-section="current"][data-run-id="synthetic-cache-compile"]');
  await current.waitFor({ timeout: 5000 });
  assert.deepEqual(await current.locator(".ab-chip").allInnerTexts(), ["cache: adaptive", "compile"]);
  assert.equal(await current.locator('[data-ab-field="calls"]').innerText(), "3/4");
  assert.equal(await current.locator(".ab-timeline-row").count(), 1);
  const runCompiles = current.locator('[data-ab-field="run-compiles"] .ab-run-compile');
  assert.equal(await runCompiles.count(), 2);
  const entries = await runCompiles.evaluateAll((els) => els.map((el) => el.innerText.replace(/\s+/g, " ").trim()));
  assert.match(entries[0], /synthetic_blocks\.0 4\.50 s first compile/);
  assert.match(entries[1], /synthetic_blocks\.0 1\.25 s recompile #2: size of x changed: 64 -> 96/);
  assert.match(await current.locator('[data-ab-field="compile-count"]').innerText(), /^2 compiles \(1 recompile\)$/);
  assert.match(await current.locator('[data-ab-field="run-notices"]').innerText(), /synthetic run notice/);
  // The process-wide compile history still lists them too, newest first.
  const history = page.locator('.ab-sidebar [data-ab-section="compiles"] .ab-compile[data-run-id="synthetic-cache-compile"]');
  assert.equal(await history.count(), 2);
  assert.match(await history.first().innerText(), /recompile #2/);

  // A compile-only run: a run of its own, no timeline, its compile counts.
  await page.evaluate(() => {
    const api = window.comfyAPI.api.api;
    const run_id = "synthetic-compile-only";
    api.dispatchCustomEvent("afterburner.run_started", {
      run_id, model: "Flux", method: "compile", params: {}, total_steps: 3, started_at: Date.now() / 1000 + 1,
      capabilities: { compile: { label: "compile", params: { backend: "inductor" }, node_id: "907" } },
    });
    for (let i = 0; i < 3; i++) {
      api.dispatchCustomEvent("afterburner.compile", {
        run_id, model: "Flux", target: `synthetic_single.${i}`, recompile: false, reason: "", duration_s: 0.5, count: 1,
      });
    }
    api.dispatchCustomEvent("afterburner.run_finished", {
      run_id, status: "ok", total_steps: 3, model_calls: 3, computed_calls: 3, wall_s: 3, cache_bytes: 0, message: "",
      compute_fraction: 1, capabilities: { compile: { compiles: 3, recompiles: 0 } },
    });
  });
  current = page.locator('.ab-sidebar [data-ab-section="current"][data-run-id="synthetic-compile-only"]');
  await current.waitFor({ timeout: 5000 });
  assert.match(await current.locator('[data-ab-empty="timeline"]').innerText(), /no cache in this run/i);
  assert.equal(await current.locator(".ab-timeline-row").count(), 0);
  assert.equal(await current.locator('[data-ab-field="calls"]').count(), 0);
  assert.equal(await current.locator('[data-ab-field="compiles"]').innerText(), "3");
  assert.equal(await current.locator('[data-ab-field="recompiles"]').innerText(), "0");
  assert.deepEqual(await current.locator(".ab-chip").allInnerTexts(), ["compile"]);
  assert.equal(await current.locator(".ab-run-compile").count(), 3);
  const listed = page.locator('.ab-sidebar [data-ab-section="runs"] [data-run-id="synthetic-compile-only"]');
  assert.equal(await listed.locator('[data-ab-field="compiles"]').innerText(), "3 compiles");
  const inStore = await page.evaluate(EXT_STATE_RUN, "synthetic-compile-only");
  assert.equal(inStore.compiles.length, 3);
  assert.ok(inStore.compiles.every((c) => c.run_id === "synthetic-compile-only"));
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(ARTIFACTS, "sidebar-compile-only.png") });
  // The cache + compile run, selected from the list: its chips, timeline and compiles.
  await page.locator('.ab-sidebar [data-ab-section="runs"] [data-run-id="synthetic-cache-compile"]').click();
  await page.locator('.ab-sidebar [data-ab-section="current"][data-run-id="synthetic-cache-compile"]').waitFor({ timeout: 5000 });
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(ARTIFACTS, "sidebar-run-compiles.png") });
  await page.locator('.ab-sidebar [data-ab-action="show-latest"]').click();
});

function EXT_STATE_RUN(id) {
  return window.app.extensions.find((e) => e.name === "afterburner.sidebar").getState().runs.find((r) => r.run_id === id) ?? null;
}

test("view state lives in the store, and a redraw keeps the keyboard focus", async () => {
  await openTab();
  const liveRun = "synthetic-focus";
  await page.evaluate((run_id) => {
    const api = window.comfyAPI.api.api;
    api.dispatchCustomEvent("afterburner.run_started", {
      run_id, model: "Flux", method: "cache:adaptive", params: {}, total_steps: 50, started_at: Date.now() / 1000 + 5,
      capabilities: { cache: { label: "adaptive", params: {}, node_id: null } },
    });
  }, liveRun);
  await page.locator(`.ab-sidebar [data-ab-section="current"][data-run-id="${liveRun}"]`).waitFor({ timeout: 5000 });
  const older = await page.evaluate(() => {
    const s = window.app.extensions.find((e) => e.name === "afterburner.sidebar").getState();
    return s.runs[1]?.run_id ?? null;
  });
  assert.ok(older, "an older run to select");
  const step = (i) =>
    page.evaluate(
      ([run_id, step]) =>
        window.comfyAPI.api.api.dispatchCustomEvent("afterburner.step", {
          run_id, step, sigma: 1 - step / 50, branch: "cond", action: "computed", signal: 0.01, threshold: 0.05,
        }),
      [liveRun, i],
    );
  const version = () => page.evaluate(() => Number(document.querySelector(".ab-sidebar")?.getAttribute("data-ab-version")));
  const redrawnAfter = async (fn) => {
    const v = await version();
    await fn();
    await page.waitForFunction((before) => Number(document.querySelector(".ab-sidebar")?.getAttribute("data-ab-version")) > before, v, {
      timeout: 5000,
    });
  };
  const focused = () =>
    page.evaluate(() => ({
      key: document.activeElement?.getAttribute?.("data-focus-key") ?? null,
      marked: Boolean(document.activeElement?.__abOld),
      inside: Boolean(document.activeElement?.closest?.(".ab-sidebar")),
    }));

  // 1. Keyboard: focus an older run in the list, Enter selects it; the selection is in the store.
  const item = page.locator(`.ab-sidebar [data-ab-section="runs"] [data-run-id="${older}"]`);
  await item.focus();
  await redrawnAfter(() => page.keyboard.press("Enter"));
  assert.equal(await page.evaluate(() => window.app.extensions.find((e) => e.name === "afterburner.sidebar").getState().view.selectedRunId), older);
  await page.locator(`.ab-sidebar [data-ab-section="current"][data-run-id="${older}"]`).waitFor({ timeout: 5000 });
  assert.deepEqual(await focused(), { key: `run:${older}`, marked: false, inside: true });

  // 2. A new event redraws everything: the focus comes back to the same run's (new) element, the selection stays.
  await page.evaluate(() => (document.activeElement.__abOld = true));
  await redrawnAfter(() => step(0));
  assert.deepEqual(await focused(), { key: `run:${older}`, marked: false, inside: true }, "focus restored on the re-rendered run");
  assert.equal(
    await page.locator('.ab-sidebar [data-ab-section="current"]').getAttribute("data-run-id"),
    older,
    "the selected run stays shown while events arrive",
  );

  // 3. A section title folds its section from the keyboard; folded it stays through new events, focus too.
  const toggle = page.locator('.ab-sidebar [data-ab-section="runs"] [data-ab-action="toggle-section"]');
  await toggle.focus();
  await redrawnAfter(() => page.keyboard.press("Enter"));
  assert.equal(await page.locator('.ab-sidebar [data-ab-section="runs"]').getAttribute("data-collapsed"), "true");
  assert.equal(await page.locator('.ab-sidebar [data-ab-section="runs"] .ab-run').count(), 0);
  assert.deepEqual(
    await page.evaluate(() => window.app.extensions.find((e) => e.name === "afterburner.sidebar").getState().view.collapsed),
    { runs: true },
  );
  await page.evaluate(() => (document.activeElement.__abOld = true));
  await redrawnAfter(() => step(1));
  assert.deepEqual(await focused(), { key: "section:runs", marked: false, inside: true });
  assert.equal(await page.locator('.ab-sidebar [data-ab-section="runs"]').getAttribute("data-collapsed"), "true");
  await redrawnAfter(() => page.keyboard.press("Enter"));
  assert.equal(await page.locator('.ab-sidebar [data-ab-section="runs"]').getAttribute("data-collapsed"), null);
  assert.equal(await toggle.getAttribute("aria-expanded"), "true");

  // 4. "show latest" from the keyboard: the button goes away, the focus falls back to the section title.
  await page.locator('.ab-sidebar [data-ab-action="show-latest"]').focus();
  await redrawnAfter(() => page.keyboard.press("Enter"));
  assert.equal(await page.locator('.ab-sidebar [data-ab-section="current"]').getAttribute("data-run-id"), liveRun);
  assert.equal((await focused()).key, "section:current");

  // 5. Focus outside the sidebar is not pulled in by a redraw.
  await page.evaluate(() => document.activeElement?.blur());
  await redrawnAfter(() => step(2));
  assert.equal((await focused()).inside, false);
});

test("toasts use only toast.add: a frontend without toast.remove/removeAll (1.57+) still shows them", async () => {
  // extensionManager is a Pinia store whose `toast` is a computed: swap the property itself (and put the
  // very same descriptor back afterwards). Read through the store, the stand-in comes back wrapped in a
  // reactive proxy, so it is checked by shape, not identity.
  const swapped = await page.evaluate(() => {
    const em = window.app.extensionManager;
    window.__abToastDescriptor = Object.getOwnPropertyDescriptor(em, "toast");
    const real = em.toast;
    Object.defineProperty(em, "toast", { value: { add: (msg) => real.add(msg) }, configurable: true, writable: true });
    return typeof em.toast.add === "function" && em.toast.remove === undefined && em.toast.removeAll === undefined;
  });
  assert.equal(swapped, true, "extensionManager.toast replaced by an add-only one");
  try {
    await page.evaluate(() =>
      window.comfyAPI.api.api.dispatchCustomEvent("afterburner.notice", {
        run_id: null, severity: "error", source: "compile", message: "synthetic add-only toast", at: 2e9,
      }),
    );
    await page.locator(".p-toast-message", { hasText: "synthetic add-only toast" }).first().waitFor({ state: "visible", timeout: 5000 });
  } finally {
    await page.evaluate(() => {
      const d = window.__abToastDescriptor;
      if (d) Object.defineProperty(window.app.extensionManager, "toast", d);
    });
  }
  assert.equal(await page.evaluate(() => typeof window.app.extensionManager.toast.add), "function");
});

test("light theme renders readably (screenshot)", async () => {
  await openTab();
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.ColorPalette", "light"));
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(ARTIFACTS, "sidebar-light.png") });
  const colors = await page.locator(".ab-sidebar").evaluate((el) => {
    const s = getComputedStyle(el);
    return { fg: s.color };
  });
  assert.notEqual(colors.fg, "rgb(255, 255, 255)", "text colour follows the light palette");
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.ColorPalette", "dark"));
});

test("no console error comes from Afterburner's frontend code", async (t) => {
  t.diagnostic(`console errors from other code (not asserted): ${allErrors.length}`);
  for (const e of allErrors) t.diagnostic(e.slice(0, 300));
  // Without a cache node the run test is skipped: still keep a screenshot of the sidebar.
  if (!screenshotTaken) await page.screenshot({ path: path.join(ARTIFACTS, "sidebar.png") });
  assert.deepEqual(ourErrors, [], `errors from ${OUR_CODE}:\n${ourErrors.join("\n")}\n(all errors:\n${allErrors.join("\n")})`);
});
