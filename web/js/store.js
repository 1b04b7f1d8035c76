// Afterburner sidebar: the state and its reducer. Pure: no DOM, no ComfyUI imports, no clock.
//
// The state is fed by two sources that overlap: live websocket events (`afterburner.<kind>`) and
// snapshots from the routes (`GET /afterburner/runs`, `GET /afterburner/events`) fetched on load and
// on reconnect. Every transition is idempotent, so the same step arriving twice, or a snapshot that
// repeats events already seen live, never duplicates anything.

export const DEFAULT_HISTORY_LENGTH = 20;
export const MAX_HISTORY_LENGTH = 50; // the routes keep at most 50 runs
export const MAX_EVENTS = 50; // compile events and notices kept for display

export const STEP_ACTIONS = Object.freeze(["computed", "reused", "extrapolated"]);
const FINAL_STATUSES = new Set(["ok", "interrupted", "error"]);

/** The empty state. */
export function initialState(historyLength = DEFAULT_HISTORY_LENGTH) {
  return {
    // newest first: {run_id, model, method, params, capabilities, total_steps, started_at, status, steps,
    // summary, compiles, notices}; a run's compiles and notices are oldest first
    runs: [],
    compiles: [], // newest first, process-wide (also those outside any run)
    notices: [], // newest first, process-wide
    historyLength: clampHistory(historyLength),
    loaded: false, // a snapshot from the routes has been applied at least once
    version: 0, // bumped on every change, so a renderer can skip identical states
    view: initialView(),
  };
}

/**
 * What the person looks at, kept apart from what the server said. selectedRunId: the run shown in
 * detail (null: follow the newest run). collapsed: {sectionId: true} for every section folded shut.
 */
export function initialView() {
  return { selectedRunId: null, collapsed: {} };
}

export function clampHistory(n) {
  const v = Math.round(Number(n));
  if (!Number.isFinite(v)) return DEFAULT_HISTORY_LENGTH;
  return Math.min(MAX_HISTORY_LENGTH, Math.max(1, v));
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isStr = (v) => typeof v === "string" && v.length > 0;
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Identity of a step decision: one solver evaluation of one branch. Heun-like samplers evaluate the
 * model twice per step at different sigmas, so sigma is part of the key. */
export function stepKey(step) {
  return `${step.step}|${step.branch}|${step.sigma}`;
}

function cleanStep(data) {
  if (!isObj(data) || !Number.isInteger(data.step) || data.step < 0) return null;
  if (!STEP_ACTIONS.includes(data.action)) return null;
  return {
    step: data.step,
    sigma: num(data.sigma),
    branch: isStr(data.branch) ? data.branch : "cond",
    action: data.action,
    signal: num(data.signal),
    threshold: num(data.threshold),
  };
}

/** A run_finished's per-capability summaries, {name: {...}}: objects only, copied one level deep. */
function cleanCapabilitySummaries(data) {
  const out = {};
  if (!isObj(data)) return out;
  for (const [name, value] of Object.entries(data)) if (isStr(name) && isObj(value)) out[name] = { ...value };
  return out;
}

function cleanSummary(data) {
  if (!isObj(data)) return null;
  const capabilities = cleanCapabilitySummaries(data.capabilities);
  // The cache's own numbers when the run reports them per capability, else the top-level ones (old shape).
  const cache = capabilities.cache ?? {};
  const modelCalls = num(cache.model_calls) ?? num(data.model_calls);
  const computedCalls = num(cache.computed_calls) ?? num(data.computed_calls);
  const fraction = cache.model_calls !== undefined ? null : num(data.compute_fraction);
  return {
    total_steps: num(data.total_steps),
    model_calls: modelCalls,
    computed_calls: computedCalls,
    wall_s: num(data.wall_s),
    cache_bytes: num(cache.cache_bytes) ?? num(data.cache_bytes) ?? 0,
    message: typeof data.message === "string" ? data.message : "",
    compute_fraction:
      fraction ?? (modelCalls ? computedCalls / modelCalls : modelCalls === 0 ? 1 : null),
    capabilities,
  };
}

/**
 * A run's capabilities, {name: {label, params, node_id}}: what patched the model for this run ("cache",
 * "compile", later "quant", "attention"). node_id is a string (the graph node that asked for it) or null.
 */
function cleanCapabilities(data) {
  const out = {};
  if (!isObj(data)) return out;
  for (const [name, value] of Object.entries(data)) {
    if (!isStr(name)) continue;
    const v = isObj(value) ? value : value === true ? {} : null;
    if (!v) continue;
    const nodeId = v.node_id;
    out[name] = {
      label: typeof v.label === "string" ? v.label : "",
      params: isObj(v.params) ? v.params : {},
      node_id: isStr(nodeId) ? nodeId : num(nodeId) !== null ? String(nodeId) : null,
    };
  }
  return out;
}

function newRun(runId) {
  return {
    run_id: runId,
    model: "",
    method: "",
    params: {},
    capabilities: {},
    total_steps: null,
    started_at: null,
    status: "running",
    steps: [],
    summary: null,
    compiles: [],
    notices: [],
  };
}

/** Merge step lists: one entry per stepKey, later sources win, ordered by step then branch. */
function mergeSteps(base, extra) {
  if (!extra.length) return base;
  const byKey = new Map();
  for (const s of base) byKey.set(stepKey(s), s);
  let changed = false;
  for (const s of extra) {
    const key = stepKey(s);
    const old = byKey.get(key);
    if (!old || old.action !== s.action || old.signal !== s.signal || old.threshold !== s.threshold) {
      byKey.set(key, s);
      changed = true;
    }
  }
  if (!changed) return base;
  return [...byKey.values()].sort((a, b) => a.step - b.step || (a.sigma !== b.sigma ? (b.sigma ?? 0) - (a.sigma ?? 0) : 0));
}

/** A status never goes back from final to running (a snapshot may be older than a live event). */
function mergeStatus(current, incoming) {
  if (!isStr(incoming)) return current;
  if (FINAL_STATUSES.has(current) && !FINAL_STATUSES.has(incoming)) return current;
  return incoming;
}

/** Newest first: by started_at, descending; a run not yet started (null) is live, so newest. */
function sortRuns(runs) {
  const key = (r) => (r.started_at === null ? Infinity : r.started_at);
  return runs
    .map((r, i) => [r, i])
    .sort(([a, i], [b, j]) => key(b) - key(a) || i - j)
    .map(([r]) => r);
}

function withRuns(state, runs) {
  const kept = sortRuns(runs).slice(0, state.historyLength);
  return { ...state, runs: kept, view: viewFor(state.view, kept), version: state.version + 1 };
}

/** The view, with a selection that no longer names a listed run dropped (back to following the newest). */
function viewFor(view, runs) {
  const v = isObj(view) ? view : initialView();
  if (v.selectedRunId === null || runs.some((r) => r.run_id === v.selectedRunId)) return v;
  return { ...v, selectedRunId: null };
}

function upsertRun(state, runId, update) {
  const idx = state.runs.findIndex((r) => r.run_id === runId);
  const old = idx >= 0 ? state.runs[idx] : newRun(runId);
  const next = update(old);
  if (next === old) return state;
  const runs = idx >= 0 ? state.runs.map((r, i) => (i === idx ? next : r)) : [next, ...state.runs];
  return withRuns(state, runs);
}

function runFromRecord(record) {
  if (!isObj(record) || !isStr(record.run_id)) return null;
  const steps = Array.isArray(record.steps) ? record.steps.map(cleanStep).filter(Boolean) : [];
  const compiles = Array.isArray(record.compiles)
    ? record.compiles.map((c) => cleanCompile(c, record.run_id)).filter(Boolean)
    : [];
  const notices = Array.isArray(record.notices)
    ? record.notices.map((n) => cleanNotice(n, record.run_id)).filter(Boolean)
    : [];
  return {
    run_id: record.run_id,
    model: typeof record.model === "string" ? record.model : "",
    method: typeof record.method === "string" ? record.method : "",
    params: isObj(record.params) ? record.params : {},
    capabilities: cleanCapabilities(record.capabilities),
    total_steps: num(record.total_steps),
    started_at: num(record.started_at),
    status: isStr(record.status) ? record.status : "running",
    steps: mergeSteps([], steps),
    summary: cleanSummary(record.summary),
    compiles: mergeEvents([], compiles, compileKey),
    notices: mergeEvents([], notices, noticeKey),
  };
}

function mergeRun(local, incoming) {
  return {
    ...local,
    model: incoming.model || local.model,
    method: incoming.method || local.method,
    params: Object.keys(incoming.params).length ? incoming.params : local.params,
    capabilities: Object.keys(incoming.capabilities).length ? incoming.capabilities : local.capabilities ?? {},
    total_steps: incoming.total_steps ?? local.total_steps,
    started_at: incoming.started_at ?? local.started_at,
    status: mergeStatus(local.status, incoming.status),
    steps: mergeSteps(incoming.steps, local.steps),
    summary: local.summary ?? incoming.summary,
    compiles: mergeEvents(incoming.compiles, local.compiles ?? [], compileKey),
    notices: mergeEvents(incoming.notices, local.notices ?? [], noticeKey),
  };
}

/**
 * One run's events, oldest first: `base` in its order, then the items of `extra` it lacks. Events carry
 * no sequence number, so a snapshot's order (the server's) goes first and live extras follow it.
 * Returns `base` itself when nothing is new.
 */
function mergeEvents(base, extra, keyOf) {
  const seen = new Set(base.map(keyOf));
  const fresh = [];
  for (const item of extra) {
    const key = keyOf(item);
    if (!seen.has(key)) {
      seen.add(key);
      fresh.push(item);
    }
  }
  return fresh.length ? [...base, ...fresh].slice(-MAX_EVENTS) : base;
}

function compileKey(c) {
  return `${c.model}|${c.target}|${c.count}|${c.recompile}|${c.reason}|${c.duration_s}`;
}
function noticeKey(n) {
  return `${n.at}|${n.source}|${n.severity}|${n.message}`;
}

/** run_id: the run the event happened in, null outside any run (or when the payload predates run ids). */
function cleanRunId(d, fallback) {
  return isStr(d.run_id) ? d.run_id : isStr(fallback) ? fallback : null;
}

function cleanCompile(d, runId = null) {
  if (!isObj(d) || typeof d.target !== "string") return null;
  return {
    model: typeof d.model === "string" ? d.model : "",
    target: d.target,
    recompile: Boolean(d.recompile),
    reason: typeof d.reason === "string" ? d.reason : "",
    duration_s: num(d.duration_s),
    count: num(d.count),
    run_id: cleanRunId(d, runId),
  };
}

function cleanNotice(d, runId = null) {
  if (!isObj(d) || typeof d.message !== "string") return null;
  const severity = ["info", "warning", "error"].includes(d.severity) ? d.severity : "info";
  return {
    severity,
    source: typeof d.source === "string" ? d.source : "",
    message: d.message,
    at: num(d.at),
    run_id: cleanRunId(d, runId),
  };
}

/** Add a compile or notice to the process-wide list and, when it names a run, to that run's own list. */
function addEvent(state, item, listName, keyOf) {
  const list = addUnique(state[listName], [item], keyOf);
  let next = list === state[listName] ? state : { ...state, [listName]: list, version: state.version + 1 };
  if (item.run_id) {
    next = upsertRun(next, item.run_id, (run) => {
      const own = mergeEvents(run[listName] ?? [], [item], keyOf);
      return own === run[listName] ? run : { ...run, [listName]: own };
    });
  }
  return next;
}

/** Prepend new items (given oldest first) to a newest-first list, skipping ones already there. */
function addUnique(list, items, keyOf) {
  const seen = new Set(list.map(keyOf));
  const fresh = [];
  for (const item of items) {
    const key = keyOf(item);
    if (!seen.has(key)) {
      seen.add(key);
      fresh.push(item);
    }
  }
  if (!fresh.length) return list;
  return [...fresh.reverse(), ...list].slice(0, MAX_EVENTS);
}

/** Apply one action. Unknown actions and malformed payloads leave the state unchanged (same object). */
export function reduce(state, action) {
  if (!isObj(action)) return state;
  const data = action.data;
  switch (action.type) {
    case "run_started": {
      if (!isObj(data) || !isStr(data.run_id)) return state;
      return upsertRun(state, data.run_id, (run) => ({
        ...run,
        model: typeof data.model === "string" ? data.model : run.model,
        method: typeof data.method === "string" ? data.method : run.method,
        params: isObj(data.params) ? data.params : run.params,
        capabilities: isObj(data.capabilities) ? cleanCapabilities(data.capabilities) : run.capabilities,
        total_steps: num(data.total_steps) ?? run.total_steps,
        started_at: num(data.started_at) ?? run.started_at,
      }));
    }
    case "step": {
      if (!isObj(data) || !isStr(data.run_id)) return state;
      const step = cleanStep(data);
      if (!step) return state;
      return upsertRun(state, data.run_id, (run) => {
        const steps = mergeSteps(run.steps, [step]);
        return steps === run.steps ? run : { ...run, steps };
      });
    }
    case "run_finished": {
      if (!isObj(data) || !isStr(data.run_id)) return state;
      return upsertRun(state, data.run_id, (run) => ({
        ...run,
        status: isStr(data.status) ? data.status : "ok",
        total_steps: run.total_steps ?? num(data.total_steps),
        summary: cleanSummary(data),
      }));
    }
    case "compile": {
      const c = cleanCompile(data);
      return c ? addEvent(state, c, "compiles", compileKey) : state;
    }
    case "notice": {
      const n = cleanNotice(data);
      return n ? addEvent(state, n, "notices", noticeKey) : state;
    }
    case "history_loaded": {
      // data: {runs?: RunRecord[] newest first} and/or {compiles?: [...], notices?: [...]} oldest first.
      // replace: the snapshot is the whole truth (after a reconnect the server may be a new process).
      if (!isObj(data)) return state;
      const replace = data.replace === true;
      let next = { ...state, loaded: true, version: state.version + 1 };
      if (Array.isArray(data.runs)) {
        const byId = new Map((replace ? [] : next.runs).map((r) => [r.run_id, r]));
        for (const record of data.runs) {
          const incoming = runFromRecord(record);
          if (!incoming) continue;
          const local = byId.get(incoming.run_id);
          byId.set(incoming.run_id, local ? mergeRun(local, incoming) : incoming);
        }
        next = withRuns(next, [...byId.values()]);
      }
      if (Array.isArray(data.compiles)) {
        next.compiles = addUnique(replace ? [] : next.compiles, data.compiles.map(cleanCompile).filter(Boolean),
          compileKey);
      }
      if (Array.isArray(data.notices)) {
        next.notices = addUnique(replace ? [] : next.notices, data.notices.map(cleanNotice).filter(Boolean),
          noticeKey);
      }
      return next;
    }
    case "set_history_length": {
      const historyLength = clampHistory(data);
      if (historyLength === state.historyLength) return state;
      return withRuns({ ...state, historyLength }, state.runs);
    }
    // --- view actions: what is shown, not what happened --------------------------------------------------
    case "select_run": {
      // data: a run id, or null to follow the newest run. Selecting the newest run follows it too; an
      // id not listed changes nothing.
      const view = state.view ?? initialView();
      if (data !== null && (!isStr(data) || !state.runs.some((r) => r.run_id === data))) return state;
      const selectedRunId = data === null || data === state.runs[0]?.run_id ? null : data;
      if (selectedRunId === view.selectedRunId) return state;
      return { ...state, view: { ...view, selectedRunId }, version: state.version + 1 };
    }
    case "toggle_run": {
      // A click on a listed run: show it, or go back to the newest when it is the one already selected.
      if (!isStr(data)) return state;
      const selected = state.view?.selectedRunId ?? null;
      return reduce(state, { type: "select_run", data: data === selected ? null : data });
    }
    case "toggle_section":
      // data: a section id ("current", "compiles", "run-compiles", ...): open it if shut, shut it if open.
      return isStr(data) ? reduce(state, { type: "set_section_open", data: { section: data, open: !isSectionOpen(state, data) } }) : state;
    case "set_section_open": {
      // data: {section, open}
      if (!isObj(data) || !isStr(data.section) || typeof data.open !== "boolean") return state;
      if (isSectionOpen(state, data.section) === data.open) return state;
      const view = state.view ?? initialView();
      const collapsed = { ...view.collapsed };
      if (data.open) delete collapsed[data.section];
      else collapsed[data.section] = true;
      return { ...state, view: { ...view, collapsed }, version: state.version + 1 };
    }
    default:
      return state;
  }
}

/** Whether a section is open; every section starts open. */
export function isSectionOpen(state, section) {
  return state?.view?.collapsed?.[section] !== true;
}

/** The run shown in detail: the selected one, else the newest; null when there is none. */
export function shownRun(state) {
  const id = state?.view?.selectedRunId ?? null;
  return (id !== null && state.runs.find((r) => r.run_id === id)) || state.runs[0] || null;
}

/** Whether the run shown in detail is an older one the person picked (not the newest). */
export function isRunSelected(state) {
  const shown = shownRun(state);
  return Boolean(shown && state.runs[0] && shown.run_id !== state.runs[0].run_id);
}

/** Counts of one run's step decisions (one per solver evaluation and branch), from its step events. */
export function stepCounts(run) {
  const counts = { computed: 0, reused: 0, extrapolated: 0, total: 0 };
  for (const s of run?.steps ?? []) {
    counts[s.action] += 1;
    counts.total += 1;
  }
  return counts;
}

/**
 * The numbers the sidebar shows for a run: the backend's summary once the run finished (authoritative:
 * it counts every model call), the live step events before that.
 */
export function runCounts(run) {
  const live = stepCounts(run);
  const s = run?.summary;
  if (s && s.model_calls !== null && s.computed_calls !== null) {
    return {
      computed: s.computed_calls,
      total: s.model_calls,
      skipped: s.model_calls - s.computed_calls,
      fraction: s.compute_fraction,
      final: true,
      live,
    };
  }
  return {
    computed: live.computed,
    total: live.total,
    skipped: live.reused + live.extrapolated,
    fraction: live.total ? live.computed / live.total : null,
    final: false,
    live,
  };
}

/** The step the run has reached (highest step index seen + 1), for a progress readout. */
export function stepsDone(run) {
  let max = -1;
  for (const s of run?.steps ?? []) max = Math.max(max, s.step);
  return max + 1;
}

/** The run shown as "current": the newest one. */
export function currentRun(state) {
  return state.runs[0] ?? null;
}

/**
 * A run's capabilities as a list, [{name, label, params, node_id}], in the server's order. A record from
 * before capabilities existed gets them from its method ("cache:adaptive + compile"), with the node id
 * from params.node_id on the cache.
 */
export function runCapabilities(run) {
  const caps = run?.capabilities;
  if (isObj(caps) && Object.keys(caps).length) {
    return Object.entries(caps).map(([name, c]) => ({ name, label: c.label, params: c.params, node_id: c.node_id }));
  }
  const method = typeof run?.method === "string" ? run.method : "";
  const legacyNode = run?.params?.node_id;
  return method
    .split("+")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name, ...rest] = part.split(":");
      return {
        name: name.trim(),
        label: rest.join(":").trim(),
        params: name.trim() === "cache" ? run.params ?? {} : {},
        node_id: name.trim() === "cache" && legacyNode !== undefined && legacyNode !== null ? String(legacyNode) : null,
      };
    });
}

/**
 * Whether a run had a cache (so has step decisions to show). True for a run whose capabilities are not
 * known yet (a step arrived first, or an old record without a method) and for any run with step events.
 */
export function runHasCache(run) {
  if (!run) return false;
  if (run.steps?.length) return true;
  const caps = runCapabilities(run);
  const summaryCaps = run.summary?.capabilities;
  if (!caps.length) return !(isObj(summaryCaps) && Object.keys(summaryCaps).length) || "cache" in summaryCaps;
  return caps.some((c) => c.name === "cache");
}

/**
 * How much a run compiled: {compiles, recompiles, duration_s, listed, final}. The run_finished summary
 * (capabilities.compile) is authoritative once there; before that, the run's own compile events.
 * duration_s sums the listed events' durations (null when none has one); listed: how many events are held.
 */
export function compileCounts(run) {
  const list = run?.compiles ?? [];
  const durations = list.map((c) => c.duration_s).filter((d) => d !== null);
  const live = {
    compiles: list.length,
    recompiles: list.filter((c) => c.recompile).length,
    duration_s: durations.length ? durations.reduce((a, b) => a + b, 0) : null,
    listed: list.length,
    final: false,
  };
  const s = run?.summary?.capabilities?.compile;
  if (isObj(s) && num(s.compiles) !== null) {
    return { ...live, compiles: s.compiles, recompiles: num(s.recompiles) ?? live.recompiles, final: true };
  }
  return live;
}

/**
 * The run a node badge reports: the newest run with a capability asked for by this node
 * (capabilities[*].node_id, or params.node_id on an old record), else the newest run. Null when there is none.
 */
export function runForNode(state, nodeId) {
  if (nodeId !== undefined && nodeId !== null) {
    const tagged = state.runs.find((r) => nodeCapability(r, nodeId) !== null);
    if (tagged) return tagged;
  }
  return state.runs[0] ?? null;
}

/** The name of the capability a node asked for in a run ("cache", "compile"...), or null. */
export function nodeCapability(run, nodeId) {
  if (!run || nodeId === undefined || nodeId === null) return null;
  const id = String(nodeId);
  const hit = runCapabilities(run).find((c) => c.node_id !== null && c.node_id === id);
  if (hit) return hit.name;
  // An old record: the node id sat in the cache's params.
  const legacy = run.params?.node_id;
  return legacy !== undefined && legacy !== null && String(legacy) === id ? "cache" : null;
}
