// Event builders shaped like py/telemetry/events.py payloads and server_routes.py RunRecords.

export function started(runId, over = {}) {
  return {
    type: "run_started",
    data: { run_id: runId, model: "Flux", method: "cache:adaptive", params: { threshold: 0.1 }, total_steps: 4, started_at: 1000, ...over },
  };
}

export function step(runId, i, action, over = {}) {
  return {
    type: "step",
    data: { run_id: runId, step: i, sigma: 1 - i / 10, branch: "cond", action, signal: 0.01 * (i + 1), threshold: 0.05, ...over },
  };
}

export function finished(runId, over = {}) {
  const modelCalls = over.model_calls ?? 4;
  const computedCalls = over.computed_calls ?? 3;
  return {
    type: "run_finished",
    data: {
      run_id: runId,
      status: "ok",
      total_steps: 4,
      model_calls: modelCalls,
      computed_calls: computedCalls,
      wall_s: 1.5,
      cache_bytes: 2048,
      message: "",
      compute_fraction: modelCalls ? computedCalls / modelCalls : 1,
      ...over,
    },
  };
}

/** A compile event (afterburner.compile); run_id null: outside any run. */
export function compiled(runId, target, over = {}) {
  const recompile = (over.count ?? 1) > 1;
  return {
    type: "compile",
    data: { run_id: runId, model: "Flux", target, recompile, reason: recompile ? "shape changed" : "", duration_s: 2.5, count: 1, ...over },
  };
}

export function notice(runId, message, over = {}) {
  return { type: "notice", data: { run_id: runId, severity: "warning", source: "compile", message, at: 1000, ...over } };
}

/** The capabilities of a run_started in the new contract (labels as py/run/context.py's Enrollment makes them). */
export function caps({ cache = "adaptive", compile = false, cacheNode = "5", compileNode = "6" } = {}) {
  const out = {};
  if (cache) out.cache = { label: `cache:${cache}`, params: { threshold: 0.1 }, node_id: cacheNode };
  if (compile) out.compile = { label: "compile", params: { backend: "inductor" }, node_id: compileNode };
  return out;
}

/**
 * The RunRecord the routes would serve for the events above. Without `capabilities`, `compiles` and
 * `notices` in `over` it has the old shape (no such fields).
 */
export function record(runId, { steps = [], status = "running", summary = null, compiles, notices, ...over } = {}) {
  const s = started(runId, over).data;
  const out = {
    run_id: runId,
    model: s.model,
    method: s.method,
    params: s.params,
    total_steps: s.total_steps,
    started_at: s.started_at,
    status,
    steps: steps.map((e) => {
      const { run_id, ...rest } = e.data;
      return rest;
    }),
    summary,
  };
  if (s.capabilities !== undefined) out.capabilities = s.capabilities;
  if (compiles !== undefined) out.compiles = compiles.map((e) => e.data ?? e);
  if (notices !== undefined) out.notices = notices.map((e) => e.data ?? e);
  return out;
}

export function summaryOf(finishedEvent) {
  const { run_id, status, ...rest } = finishedEvent.data;
  return rest;
}

export function apply(state, reduce, actions) {
  return actions.reduce((s, a) => reduce(s, a), state);
}
