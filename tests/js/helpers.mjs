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

/** The RunRecord the routes would serve for the events above. */
export function record(runId, { steps = [], status = "running", summary = null, ...over } = {}) {
  const s = started(runId, over).data;
  return {
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
}

export function summaryOf(finishedEvent) {
  const { run_id, status, ...rest } = finishedEvent.data;
  return rest;
}

export function apply(state, reduce, actions) {
  return actions.reduce((s, a) => reduce(s, a), state);
}
