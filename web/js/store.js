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
    runs: [], // newest first: {run_id, model, method, params, total_steps, started_at, status, steps, summary}
    compiles: [], // newest first
    notices: [], // newest first
    historyLength: clampHistory(historyLength),
    loaded: false, // a snapshot from the routes has been applied at least once
    version: 0, // bumped on every change, so a renderer can skip identical states
  };
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

function cleanSummary(data) {
  if (!isObj(data)) return null;
  const modelCalls = num(data.model_calls);
  const computedCalls = num(data.computed_calls);
  return {
    total_steps: num(data.total_steps),
    model_calls: modelCalls,
    computed_calls: computedCalls,
    wall_s: num(data.wall_s),
    cache_bytes: num(data.cache_bytes) ?? 0,
    message: typeof data.message === "string" ? data.message : "",
    compute_fraction:
      num(data.compute_fraction) ?? (modelCalls ? computedCalls / modelCalls : modelCalls === 0 ? 1 : null),
  };
}

function newRun(runId) {
  return {
    run_id: runId,
    model: "",
    method: "",
    params: {},
    total_steps: null,
    started_at: null,
    status: "running",
    steps: [],
    summary: null,
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
  return { ...state, runs: sortRuns(runs).slice(0, state.historyLength), version: state.version + 1 };
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
  return {
    run_id: record.run_id,
    model: typeof record.model === "string" ? record.model : "",
    method: typeof record.method === "string" ? record.method : "",
    params: isObj(record.params) ? record.params : {},
    total_steps: num(record.total_steps),
    started_at: num(record.started_at),
    status: isStr(record.status) ? record.status : "running",
    steps: mergeSteps([], steps),
    summary: cleanSummary(record.summary),
  };
}

function mergeRun(local, incoming) {
  return {
    ...local,
    model: incoming.model || local.model,
    method: incoming.method || local.method,
    params: Object.keys(incoming.params).length ? incoming.params : local.params,
    total_steps: incoming.total_steps ?? local.total_steps,
    started_at: incoming.started_at ?? local.started_at,
    status: mergeStatus(local.status, incoming.status),
    steps: mergeSteps(incoming.steps, local.steps),
    summary: local.summary ?? incoming.summary,
  };
}

function compileKey(c) {
  return `${c.model}|${c.target}|${c.count}|${c.recompile}|${c.reason}|${c.duration_s}`;
}
function noticeKey(n) {
  return `${n.at}|${n.source}|${n.severity}|${n.message}`;
}

function cleanCompile(d) {
  if (!isObj(d) || typeof d.target !== "string") return null;
  return {
    model: typeof d.model === "string" ? d.model : "",
    target: d.target,
    recompile: Boolean(d.recompile),
    reason: typeof d.reason === "string" ? d.reason : "",
    duration_s: num(d.duration_s),
    count: num(d.count),
  };
}

function cleanNotice(d) {
  if (!isObj(d) || typeof d.message !== "string") return null;
  const severity = ["info", "warning", "error"].includes(d.severity) ? d.severity : "info";
  return { severity, source: typeof d.source === "string" ? d.source : "", message: d.message, at: num(d.at) };
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
      if (!c) return state;
      const compiles = addUnique(state.compiles, [c], compileKey);
      return compiles === state.compiles ? state : { ...state, compiles, version: state.version + 1 };
    }
    case "notice": {
      const n = cleanNotice(data);
      if (!n) return state;
      const notices = addUnique(state.notices, [n], noticeKey);
      return notices === state.notices ? state : { ...state, notices, version: state.version + 1 };
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
    default:
      return state;
  }
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
 * The run a node badge reports: the newest run tagged with this node's id (params.node_id), else the
 * newest run. Returns null when there is none.
 */
export function runForNode(state, nodeId) {
  if (nodeId !== undefined && nodeId !== null) {
    const tagged = state.runs.find((r) => r.params && String(r.params.node_id) === String(nodeId));
    if (tagged) return tagged;
  }
  return state.runs[0] ?? null;
}
