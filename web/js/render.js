// Afterburner sidebar: DOM built from the store's state. Plain DOM APIs on the `document` passed in;
// no ComfyUI imports. Text from the server always goes through textContent, never innerHTML.

import {
  formatAgo,
  formatBytes,
  formatCalls,
  formatDuration,
  formatMethod,
  formatNumber,
  formatPercent,
  formatSpeedup,
  formatStatus,
} from "./format.js";
import { runCounts, stepsDone } from "./store.js";
import { layoutTimeline, signalTrace } from "./timeline.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_LISTED_NOTICES = 5;
const MAX_LISTED_COMPILES = 8;

function h(doc, tag, attrs = {}, children = []) {
  const el = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of [].concat(children)) if (c) el.append(c);
  return el;
}

function svg(doc, tag, attrs = {}) {
  const el = doc.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function section(doc, id, title, children, extraClass = "") {
  return h(doc, "section", { class: `ab-section ${extraClass}`.trim(), "data-ab-section": id }, [
    h(doc, "h3", { class: "ab-section-title", text: title }),
    ...children,
  ]);
}

function stat(doc, field, value, label, title) {
  return h(doc, "div", { class: "ab-stat", title }, [
    h(doc, "span", { class: "ab-stat-value", "data-ab-field": field, text: value }),
    h(doc, "span", { class: "ab-stat-label", text: label }),
  ]);
}

function statusPill(doc, status) {
  return h(doc, "span", { class: `ab-status ab-status-${status}`, "data-ab-field": "status", text: formatStatus(status) });
}

function renderTimeline(doc, run) {
  const layout = layoutTimeline(run);
  if (!layout.rows.length) {
    return h(doc, "div", { class: "ab-muted ab-timeline-empty", text: "Waiting for the first step…" });
  }
  const wrap = h(doc, "div", { class: "ab-timeline", "data-ab-field": "timeline" });
  for (const row of layout.rows) {
    const cells = h(doc, "div", { class: "ab-timeline-cells" });
    cells.style.setProperty("--ab-steps", String(Math.max(1, layout.steps)));
    for (const c of row.cells) {
      const tip =
        c.action === "pending"
          ? `step ${c.step + 1}: not reached`
          : `step ${c.step + 1}: ${c.action}` +
            (c.sigma !== null ? `, σ ${formatNumber(c.sigma)}` : "") +
            (c.signal !== null ? `, signal ${formatNumber(c.signal)}` : "") +
            (c.threshold !== null ? ` / threshold ${formatNumber(c.threshold)}` : "") +
            (c.count > 1 ? ` (${c.count} evaluations)` : "");
      cells.append(h(doc, "span", { class: `ab-cell ${c.cls}`, title: tip, "data-step": c.step }));
    }
    wrap.append(
      h(doc, "div", { class: "ab-timeline-row", "data-branch": row.branch }, [
        h(doc, "span", { class: "ab-timeline-branch", text: row.branch }),
        cells,
      ]),
    );
  }
  wrap.append(
    h(doc, "div", { class: "ab-legend" }, [
      ...[
        ["computed", "computed"],
        ["reused", "reused"],
        ["extrapolated", "extrapolated"],
      ].map(([cls, label]) =>
        h(doc, "span", { class: "ab-legend-item" }, [h(doc, "span", { class: `ab-cell ab-cell-${cls}` }), label]),
      ),
    ]),
  );
  return wrap;
}

function renderTrace(doc, run) {
  const width = 240;
  const height = 48;
  const trace = signalTrace(run, { width, height, pad: 3 });
  if (!trace) return null;
  const box = svg(doc, "svg", {
    class: "ab-trace",
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `signal versus threshold, branch ${trace.branch}`,
  });
  if (trace.threshold) box.append(svg(doc, "path", { class: "ab-trace-threshold", d: trace.threshold }));
  box.append(svg(doc, "path", { class: "ab-trace-signal", d: trace.signal }));
  for (const p of trace.points) {
    // A zero-length round-capped stroke stays a circle however the box is stretched.
    box.append(svg(doc, "path", { class: `ab-trace-dot ab-trace-dot-${p.action}`, d: `M${p.x} ${p.y}h0` }));
  }
  return h(doc, "div", { class: "ab-trace-wrap", "data-ab-field": "trace" }, [
    box,
    h(doc, "div", { class: "ab-trace-caption", title: `CFG branch: ${trace.branch}` }, [
      h(doc, "span", { class: "ab-trace-key ab-trace-key-signal", text: "signal" }),
      h(doc, "span", { class: "ab-trace-key ab-trace-key-threshold", text: "threshold" }),
      h(doc, "span", { class: "ab-muted ab-trace-max", text: `max ${formatNumber(trace.max)}` }),
    ]),
  ]);
}

function renderCurrent(doc, state, run, opts) {
  if (!run) {
    return section(doc, "current", "Current run", [
      h(doc, "p", {
        class: "ab-placeholder",
        "data-ab-empty": "current",
        text: "No Afterburner run yet. Queue a workflow that uses an Afterburner node to see each step's decision here.",
      }),
    ]);
  }
  const counts = runCounts(run);
  const done = stepsDone(run);
  const total = run.total_steps ?? run.summary?.total_steps;
  const s = run.summary;
  const header = h(doc, "div", { class: "ab-run-header" }, [
    h(doc, "div", { class: "ab-run-title" }, [
      h(doc, "span", { class: "ab-run-model", "data-ab-field": "model", text: run.model || "unknown model" }),
      h(doc, "span", { class: "ab-run-method", "data-ab-field": "method", text: formatMethod(run.method) }),
    ]),
    statusPill(doc, run.status),
  ]);
  const stats = h(doc, "div", { class: "ab-stats" }, [
    stat(
      doc,
      "calls",
      counts.total ? `${counts.computed}/${counts.total}` : "–",
      counts.final ? "calls computed" : "computed so far",
      "Model calls that really ran, of all model calls (solver evaluations × CFG branches)",
    ),
    stat(doc, "fraction", formatPercent(counts.fraction), "compute", "Share of the model's work that really ran"),
    stat(
      doc,
      "speedup",
      formatSpeedup(counts.fraction),
      "fewer calls",
      "Model calls ÷ computed calls. The wall-clock speed-up is lower by the per-step overhead.",
    ),
  ]);
  const details = h(doc, "div", { class: "ab-details" }, [
    h(doc, "span", { "data-ab-field": "progress", text: total ? `step ${Math.min(done, total)}/${total}` : `step ${done}` }),
    s?.wall_s !== null && s?.wall_s !== undefined ? h(doc, "span", { "data-ab-field": "wall", text: formatDuration(s.wall_s) }) : null,
    s && s.cache_bytes ? h(doc, "span", { "data-ab-field": "cache-bytes", text: `cache ${formatBytes(s.cache_bytes)}` }) : null,
    run.started_at !== null ? h(doc, "span", { class: "ab-muted", text: formatAgo(run.started_at, opts.now) }) : null,
  ]);
  const children = [header, stats, details];
  if (s?.message) children.push(h(doc, "p", { class: `ab-message ab-message-${run.status}`, text: s.message }));
  children.push(renderTimeline(doc, run));
  if (opts.showSignalTrace) {
    const trace = renderTrace(doc, run);
    if (trace) children.push(trace);
  }
  const selected = opts.selectedRunId && opts.selectedRunId === run.run_id && state.runs[0]?.run_id !== run.run_id;
  const title = selected ? "Selected run" : "Current run";
  const el = section(doc, "current", title, children);
  el.setAttribute("data-run-id", run.run_id);
  if (selected) {
    el.querySelector(".ab-section-title").append(
      h(doc, "button", { class: "ab-link", type: "button", "data-ab-action": "show-latest", text: "show latest" }),
    );
  }
  return el;
}

function renderNotices(doc, state) {
  if (!state.notices.length) return null;
  const list = h(doc, "ul", { class: "ab-list" });
  for (const n of state.notices.slice(0, MAX_LISTED_NOTICES)) {
    list.append(
      h(doc, "li", { class: `ab-notice ab-notice-${n.severity}` }, [
        h(doc, "span", { class: "ab-notice-source", text: n.source || n.severity }),
        h(doc, "span", { class: "ab-notice-message", text: n.message }),
      ]),
    );
  }
  return section(doc, "notices", "Notices", [list]);
}

function renderCompiles(doc, state) {
  if (!state.compiles.length) {
    return section(doc, "compiles", "Compilation", [
      h(doc, "p", { class: "ab-placeholder", "data-ab-empty": "compiles", text: "No compilation in this session." }),
    ]);
  }
  const list = h(doc, "ul", { class: "ab-list" });
  for (const c of state.compiles.slice(0, MAX_LISTED_COMPILES)) {
    list.append(
      h(doc, "li", { class: `ab-compile ${c.recompile ? "ab-compile-recompile" : ""}`.trim() }, [
        h(doc, "div", { class: "ab-row" }, [
          h(doc, "span", { class: "ab-compile-target", text: c.target }),
          h(doc, "span", { class: "ab-muted", text: formatDuration(c.duration_s) }),
        ]),
        h(doc, "div", {
          class: "ab-compile-reason",
          text: c.recompile ? `recompile #${c.count ?? "?"}: ${c.reason || "reason unknown"}` : `compiled ${c.model}`.trim(),
        }),
      ]),
    );
  }
  return section(doc, "compiles", "Compilation", [list]);
}

function renderRuns(doc, state, shownRunId, opts) {
  if (!state.runs.length) {
    return section(doc, "runs", "Recent runs", [
      h(doc, "p", { class: "ab-placeholder", "data-ab-empty": "runs", text: "No runs yet." }),
    ]);
  }
  const list = h(doc, "ul", { class: "ab-list ab-runs" });
  for (const run of state.runs) {
    const counts = runCounts(run);
    list.append(
      h(
        doc,
        "li",
        {
          class: `ab-run ${run.run_id === shownRunId ? "ab-run-shown" : ""}`.trim(),
          "data-run-id": run.run_id,
          "data-ab-action": "select-run",
          tabindex: 0,
          title: `${run.run_id}: ${formatStatus(run.status)}`,
        },
        [
          h(doc, "div", { class: "ab-row" }, [
            h(doc, "span", { class: "ab-run-name" }, [
              h(doc, "span", { class: "ab-run-model", text: run.model || "unknown model" }),
              h(doc, "span", { class: "ab-muted", text: ` ${formatMethod(run.method)}` }),
            ]),
            statusPill(doc, run.status),
          ]),
          h(doc, "div", { class: "ab-row" }, [
            h(doc, "span", {}, [
              h(doc, "span", { "data-ab-field": "calls", text: formatCalls(counts.computed, counts.total) }),
              counts.fraction !== null ? h(doc, "span", { class: "ab-muted", text: ` · ${formatSpeedup(counts.fraction)}` }) : null,
            ]),
            h(doc, "span", { class: "ab-muted", text: formatAgo(run.started_at, opts.now) }),
          ]),
        ],
      ),
    );
  }
  return section(doc, "runs", "Recent runs", [list]);
}

function placeholder(doc, id, title, what) {
  return section(
    doc,
    id,
    title,
    [
      h(doc, "p", { class: "ab-placeholder", "data-ab-empty": id }, [
        h(doc, "strong", { text: "Not active in this workflow." }),
        ` ${what}`,
      ]),
    ],
    "ab-section-reserved",
  );
}

/**
 * Build the whole sidebar for a state. opts: {now (epoch seconds), showSignalTrace, selectedRunId,
 * version (pack version string or ""), connected (websocket up)}.
 */
export function renderSidebar(doc, state, opts = {}) {
  const o = { now: Date.now() / 1000, showSignalTrace: true, selectedRunId: null, version: "", connected: true, ...opts };
  const shown = (o.selectedRunId && state.runs.find((r) => r.run_id === o.selectedRunId)) || state.runs[0] || null;
  const root = h(doc, "div", { class: "ab-sidebar", "data-ab-version": state.version });
  root.append(
    h(doc, "header", { class: "ab-header" }, [
      h(doc, "i", { class: "pi pi-bolt ab-header-icon", "aria-hidden": "true" }),
      h(doc, "span", { class: "ab-header-title", text: "Afterburner" }),
      o.version ? h(doc, "span", { class: "ab-muted ab-header-version", text: `v${o.version}` }) : null,
      o.connected ? null : h(doc, "span", { class: "ab-status ab-status-error", text: "disconnected" }),
    ]),
  );
  root.append(renderCurrent(doc, state, shown, o));
  const notices = renderNotices(doc, state);
  if (notices) root.append(notices);
  root.append(renderCompiles(doc, state));
  root.append(renderRuns(doc, state, shown?.run_id, o));
  root.append(
    placeholder(doc, "attention", "Attention tuning", "Tuning rounds and the chosen attention kernels appear here when a workflow tunes attention."),
  );
  root.append(
    placeholder(doc, "quantization", "Quantization", "The quantized layers and their memory saving appear here when a workflow quantizes a model."),
  );
  return root;
}
