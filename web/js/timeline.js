// Afterburner sidebar: layout of a run's step timeline and its signal trace. Pure: no DOM.

const ACTION_CLASS = Object.freeze({
  computed: "ab-cell-computed",
  reused: "ab-cell-reused",
  extrapolated: "ab-cell-extrapolated",
  mixed: "ab-cell-mixed",
  pending: "ab-cell-pending",
});

/** CSS class for a cell's action; anything unknown renders as pending. */
export function actionClass(action) {
  return ACTION_CLASS[action] ?? ACTION_CLASS.pending;
}

/** Branches in display order: cond, cond1, cond2..., uncond, then anything else alphabetically. */
export function branchOrder(branches) {
  const rank = (b) => (b === "cond" ? 0 : /^cond\d+$/.test(b) ? 1 : b === "uncond" ? 2 : 3);
  const condIndex = (b) => (/^cond(\d+)$/.test(b) ? Number(b.slice(4)) : 0);
  return [...new Set(branches)].sort(
    (a, b) => rank(a) - rank(b) || condIndex(a) - condIndex(b) || (a < b ? -1 : a > b ? 1 : 0),
  );
}

/**
 * One row per branch, one cell per solver step 0..n-1 where n is the run's total_steps (or the highest
 * step seen + 1 if that is larger). A cell holds every evaluation of that step (Heun-like samplers
 * make two); its action is "computed" if all ran, "reused"/"extrapolated" if none ran and all agree,
 * "mixed" otherwise, and "pending" before any decision arrived.
 *
 * Returns {steps: n, rows: [{branch, cells: [{step, action, cls, count, sigma, signal, threshold}]}]}.
 */
export function layoutTimeline(run) {
  const steps = Array.isArray(run?.steps) ? run.steps : [];
  let n = Number.isInteger(run?.total_steps) && run.total_steps > 0 ? run.total_steps : 0;
  for (const s of steps) n = Math.max(n, s.step + 1);
  const byBranch = new Map();
  for (const s of steps) {
    if (!byBranch.has(s.branch)) byBranch.set(s.branch, new Map());
    const cells = byBranch.get(s.branch);
    if (!cells.has(s.step)) cells.set(s.step, []);
    cells.get(s.step).push(s);
  }
  const rows = branchOrder([...byBranch.keys()]).map((branch) => {
    const evals = byBranch.get(branch);
    const cells = [];
    for (let i = 0; i < n; i++) {
      const list = evals.get(i) ?? [];
      const action = cellAction(list);
      const last = list[list.length - 1];
      cells.push({
        step: i,
        action,
        cls: actionClass(action),
        count: list.length,
        sigma: last?.sigma ?? null,
        signal: last?.signal ?? null,
        threshold: last?.threshold ?? null,
      });
    }
    return { branch, cells };
  });
  return { steps: n, rows };
}

function cellAction(list) {
  if (!list.length) return "pending";
  const kinds = new Set(list.map((s) => s.action));
  if (kinds.size === 1) return list[0].action;
  return "mixed";
}

const fin = (v) => typeof v === "number" && Number.isFinite(v);
const r2 = (v) => Math.round(v * 100) / 100;

/**
 * The signal-vs-threshold trace of one branch as SVG path data inside a box.
 *
 * x: step index mapped to [pad, width - pad] over 0..steps-1; y: value mapped to [height - pad, pad]
 * over 0..max, with max the largest finite signal or threshold (×1.1 headroom). Steps without a finite
 * value break the line (a new "M"). Returns null when the branch has no finite signal at all (periodic
 * policies measure nothing).
 *
 * Returns {signal: "M.. L..", threshold: "M.. L.." or "", max, points: [{x, y, step, value, action}]}.
 */
export function signalTrace(run, { branch = null, width = 240, height = 48, pad = 2 } = {}) {
  const steps = Array.isArray(run?.steps) ? run.steps : [];
  const wanted = branch ?? branchOrder(steps.map((s) => s.branch))[0];
  if (wanted === undefined) return null;
  // One value per step: the last evaluation of that step for this branch.
  const perStep = new Map();
  for (const s of steps) if (s.branch === wanted) perStep.set(s.step, s);
  const entries = [...perStep.values()].sort((a, b) => a.step - b.step);
  if (!entries.some((s) => fin(s.signal))) return null;

  let n = Number.isInteger(run?.total_steps) && run.total_steps > 0 ? run.total_steps : 0;
  for (const s of entries) n = Math.max(n, s.step + 1);
  let max = 0;
  for (const s of entries) {
    if (fin(s.signal)) max = Math.max(max, s.signal);
    if (fin(s.threshold)) max = Math.max(max, s.threshold);
  }
  max = max > 0 ? max * 1.1 : 1;

  const innerW = Math.max(0, width - 2 * pad);
  const innerH = Math.max(0, height - 2 * pad);
  const x = (step) => r2(pad + (n > 1 ? (step / (n - 1)) * innerW : innerW / 2));
  const y = (v) => r2(pad + innerH - (Math.max(0, Math.min(v, max)) / max) * innerH);

  // Consecutive steps with a finite value join into one line; a gap starts a new subpath.
  const path = (key) => {
    const parts = [];
    let prev = null;
    for (const s of entries) {
      if (!fin(s[key])) {
        prev = null;
        continue;
      }
      parts.push(`${prev !== null && s.step === prev + 1 ? "L" : "M"}${x(s.step)} ${y(s[key])}`);
      prev = s.step;
    }
    return parts.join(" ");
  };

  const points = entries
    .filter((s) => fin(s.signal))
    .map((s) => ({ x: x(s.step), y: y(s.signal), step: s.step, value: s.signal, action: s.action }));
  return { branch: wanted, signal: path("signal"), threshold: path("threshold"), max, points };
}
