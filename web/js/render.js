// Afterburner sidebar: DOM built from the store's state. Plain DOM APIs on the `document` passed in;
// no ComfyUI imports. Text from the server always goes through textContent, never innerHTML.

import {
  formatAgo,
  formatBytes,
  formatCalls,
  formatCapability,
  formatCompileKind,
  formatCompiles,
  formatDuration,
  formatMethod,
  formatNumber,
  formatPercent,
  formatSpeedup,
  formatStatus,
} from "./format.js";
import {
  compileCounts,
  isRunSelected,
  isSectionOpen,
  runCapabilities,
  runCounts,
  runHasCache,
  shownRun,
  stepsDone,
} from "./store.js";
import { layoutTimeline, signalTrace } from "./timeline.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_LISTED_NOTICES = 5;
const MAX_LISTED_COMPILES = 8;
const MAX_LISTED_RUN_COMPILES = 12;
const MAX_LISTED_RUN_NOTICES = 5;

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

/** The button that opens or shuts a section; its focus key stays the same across redraws. */
function sectionToggle(doc, id, title, open) {
  return h(
    doc,
    "button",
    {
      class: "ab-section-toggle",
      type: "button",
      "data-ab-action": "toggle-section",
      "data-section": id,
      "data-focus-key": `section:${id}`,
      "aria-expanded": open ? "true" : "false",
      title: open ? `Hide ${title.toLowerCase()}` : `Show ${title.toLowerCase()}`,
    },
    [h(doc, "span", { class: "ab-caret", "aria-hidden": "true" }), h(doc, "span", { class: "ab-section-label", text: title })],
  );
}

/**
 * A sidebar section with a title that folds it. Shut, it keeps its title and drops its body. opts:
 * {extraClass, open (default true), titleExtra (nodes after the title, kept when shut)}.
 */
function section(doc, id, title, children, opts = {}) {
  const open = opts.open !== false;
  const cls = ["ab-section", opts.extraClass, open ? "" : "ab-section-collapsed"].filter(Boolean).join(" ");
  return h(doc, "section", { class: cls, "data-ab-section": id, "data-collapsed": open ? null : "true" }, [
    h(doc, "h3", { class: "ab-section-title" }, [sectionToggle(doc, id, title, open), ...[].concat(opts.titleExtra ?? [])]),
    ...(open ? children : []),
  ]);
}

/** A titled part inside a section (a run's compiles, its notices), folded like a section. */
function subsection(doc, state, id, title, children, field) {
  const open = isSectionOpen(state, id);
  return h(
    doc,
    "div",
    { class: `ab-subsection ${open ? "" : "ab-section-collapsed"}`.trim(), "data-ab-field": field, "data-ab-subsection": id },
    [h(doc, "h4", { class: "ab-subsection-title" }, [sectionToggle(doc, id, title, open)]), ...(open ? children : [])],
  );
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

function renderChips(doc, run) {
  const caps = runCapabilities(run);
  if (!caps.length) return null;
  return h(
    doc,
    "div",
    { class: "ab-chips", "data-ab-field": "capabilities" },
    caps.map((c) =>
      h(doc, "span", {
        class: `ab-chip ab-chip-${c.name.replace(/[^a-z0-9_-]/gi, "")}`,
        "data-capability": c.name,
        title: Object.keys(c.params ?? {}).length ? formatParams(c.params) : null,
        text: formatCapability(c),
      }),
    ),
  );
}

function formatParams(params) {
  return Object.entries(params)
    .filter(([k]) => k !== "node_id")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join("\n");
}

function compileEntry(doc, c, extraClass = "") {
  return h(doc, "li", { class: ["ab-compile", extraClass, c.recompile ? "ab-compile-recompile" : ""].filter(Boolean).join(" ") }, [
    h(doc, "div", { class: "ab-row" }, [
      h(doc, "span", { class: "ab-compile-target", text: c.target }),
      h(doc, "span", { class: "ab-muted ab-compile-duration", text: formatDuration(c.duration_s) }),
    ]),
    h(doc, "div", { class: "ab-compile-reason", text: formatCompileKind(c) }),
  ]);
}

/** The compiles of one run, oldest first, under that run's detail view. */
function renderRunCompiles(doc, state, run) {
  const hasCompile = runCapabilities(run).some((c) => c.name === "compile");
  const list = run.compiles ?? [];
  if (!hasCompile && !list.length) return null;
  const cc = compileCounts(run);
  const title = list.length || cc.final ? `Compiles in this run (${cc.compiles})` : "Compiles in this run";
  let body;
  if (!list.length) {
    body = [
      h(doc, "p", {
        class: "ab-muted ab-run-compiles-empty",
        "data-ab-empty": "run-compiles",
        text:
          run.status === "running"
            ? "Nothing compiled yet in this run."
            : cc.final && cc.compiles > 0
              ? "This run's compile events are no longer held."
              : "Nothing compiled in this run: the compiled code was reused.",
      }),
    ];
  } else {
    const ul = h(doc, "ul", { class: "ab-list ab-run-compiles" });
    for (const c of list.slice(0, MAX_LISTED_RUN_COMPILES)) ul.append(compileEntry(doc, c, "ab-run-compile"));
    body = [ul];
    const more = Math.max(list.length, cc.compiles ?? 0) - Math.min(list.length, MAX_LISTED_RUN_COMPILES);
    if (more > 0) body.push(h(doc, "p", { class: "ab-muted ab-more", text: `… and ${more} more` }));
  }
  return subsection(doc, state, "run-compiles", title, body, "run-compiles");
}

function renderRunNotices(doc, state, run) {
  const list = run.notices ?? [];
  if (!list.length) return null;
  const ul = h(doc, "ul", { class: "ab-list" });
  for (const n of list.slice(-MAX_LISTED_RUN_NOTICES).reverse()) ul.append(noticeEntry(doc, n));
  return subsection(doc, state, "run-notices", "Notices in this run", [ul], "run-notices");
}

function renderCurrent(doc, state, run, opts) {
  const open = isSectionOpen(state, "current");
  if (!run) {
    return section(
      doc,
      "current",
      "Current run",
      [
        h(doc, "p", {
          class: "ab-placeholder",
          "data-ab-empty": "current",
          text: "No Afterburner run yet. Queue a workflow that uses an Afterburner node to see each step's decision here.",
        }),
      ],
      { open },
    );
  }
  const hasCache = runHasCache(run);
  const counts = runCounts(run);
  const cc = compileCounts(run);
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
  const stats = hasCache ? h(doc, "div", { class: "ab-stats" }, [
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
  ]) : h(doc, "div", { class: "ab-stats" }, [
    stat(doc, "compiles", String(cc.compiles), cc.compiles === 1 ? "compile" : "compiles", "Compiles in this run, recompiles included"),
    stat(doc, "recompiles", String(cc.recompiles), cc.recompiles === 1 ? "recompile" : "recompiles", "Compiles again after a guard failed"),
    stat(
      doc,
      "compile-time",
      cc.duration_s !== null ? formatDuration(cc.duration_s) : "–",
      "compiling",
      "Time spent compiling, summed over the compile events listed below",
    ),
  ]);
  const hasCompile = runCapabilities(run).some((c) => c.name === "compile") || cc.compiles > 0;
  const details = h(doc, "div", { class: "ab-details" }, [
    hasCache
      ? h(doc, "span", { "data-ab-field": "progress", text: total ? `step ${Math.min(done, total)}/${total}` : `step ${done}` })
      : total
        ? h(doc, "span", { "data-ab-field": "total-steps", text: `${total} steps` })
        : null,
    hasCache && hasCompile ? h(doc, "span", { "data-ab-field": "compile-count", text: formatCompiles(cc.compiles, cc.recompiles) }) : null,
    s?.wall_s !== null && s?.wall_s !== undefined ? h(doc, "span", { "data-ab-field": "wall", text: formatDuration(s.wall_s) }) : null,
    s && s.cache_bytes ? h(doc, "span", { "data-ab-field": "cache-bytes", text: `cache ${formatBytes(s.cache_bytes)}` }) : null,
    run.started_at !== null ? h(doc, "span", { class: "ab-muted", text: formatAgo(run.started_at, opts.now) }) : null,
  ]);
  const children = [header, renderChips(doc, run), stats, details];
  if (s?.message) children.push(h(doc, "p", { class: `ab-message ab-message-${run.status}`, text: s.message }));
  if (hasCache) {
    children.push(renderTimeline(doc, run));
    if (opts.showSignalTrace) {
      const trace = renderTrace(doc, run);
      if (trace) children.push(trace);
    }
  } else {
    children.push(
      h(doc, "p", {
        class: "ab-placeholder ab-no-cache",
        "data-ab-empty": "timeline",
        text: "No cache in this run, so no step timeline: every step ran the model.",
      }),
    );
  }
  children.push(renderRunCompiles(doc, state, run), renderRunNotices(doc, state, run));
  const selected = isRunSelected(state) && shownRun(state)?.run_id === run.run_id;
  const title = selected ? "Selected run" : "Current run";
  const showLatest = selected
    ? h(doc, "button", {
        class: "ab-link",
        type: "button",
        "data-ab-action": "show-latest",
        "data-focus-key": "show-latest",
        "data-focus-fallback": "section:current",
        text: "show latest",
      })
    : null;
  const el = section(doc, "current", title, children.filter(Boolean), { open, titleExtra: showLatest });
  el.setAttribute("data-run-id", run.run_id);
  return el;
}

function noticeEntry(doc, n) {
  return h(doc, "li", { class: `ab-notice ab-notice-${n.severity}` }, [
    h(doc, "span", { class: "ab-notice-source", text: n.source || n.severity }),
    h(doc, "span", { class: "ab-notice-message", text: n.message }),
  ]);
}

function renderNotices(doc, state) {
  if (!state.notices.length) return null;
  const list = h(doc, "ul", { class: "ab-list" });
  for (const n of state.notices.slice(0, MAX_LISTED_NOTICES)) list.append(noticeEntry(doc, n));
  return section(doc, "notices", "Notices", [list], { open: isSectionOpen(state, "notices") });
}

/** The process-wide compile history, newest first (compiles of every run, and those outside any run). */
function renderCompiles(doc, state) {
  const open = isSectionOpen(state, "compiles");
  if (!state.compiles.length) {
    return section(
      doc,
      "compiles",
      "Compilation",
      [h(doc, "p", { class: "ab-placeholder", "data-ab-empty": "compiles", text: "No compilation in this session." })],
      { open },
    );
  }
  const list = h(doc, "ul", { class: "ab-list" });
  for (const c of state.compiles.slice(0, MAX_LISTED_COMPILES)) {
    list.append(
      h(doc, "li", { class: `ab-compile ${c.recompile ? "ab-compile-recompile" : ""}`.trim(), "data-run-id": c.run_id }, [
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
  return section(doc, "compiles", "Compilation", [list], { open });
}

function runListNumbers(doc, run) {
  const cc = compileCounts(run);
  if (!runHasCache(run)) {
    return h(doc, "span", {}, [
      h(doc, "span", { "data-ab-field": "compiles", text: formatCompiles(cc.compiles, cc.recompiles) }),
      h(doc, "span", { class: "ab-muted", text: " · no cache" }),
    ]);
  }
  const counts = runCounts(run);
  return h(doc, "span", {}, [
    h(doc, "span", { "data-ab-field": "calls", text: formatCalls(counts.computed, counts.total) }),
    counts.fraction !== null ? h(doc, "span", { class: "ab-muted", text: ` · ${formatSpeedup(counts.fraction)}` }) : null,
    cc.compiles > 0 ? h(doc, "span", { class: "ab-muted", "data-ab-field": "compiles", text: ` · ${formatCompiles(cc.compiles)}` }) : null,
  ]);
}

function renderRuns(doc, state, shownRunId, opts) {
  const open = isSectionOpen(state, "runs");
  if (!state.runs.length) {
    return section(doc, "runs", "Recent runs", [
      h(doc, "p", { class: "ab-placeholder", "data-ab-empty": "runs", text: "No runs yet." }),
    ], { open });
  }
  const list = h(doc, "ul", { class: "ab-list ab-runs" });
  for (const run of state.runs) {
    list.append(
      h(
        doc,
        "li",
        {
          class: `ab-run ${run.run_id === shownRunId ? "ab-run-shown" : ""}`.trim(),
          "data-run-id": run.run_id,
          "data-ab-action": "select-run",
          "data-focus-key": `run:${run.run_id}`,
          "aria-current": run.run_id === shownRunId ? "true" : null,
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
            runListNumbers(doc, run),
            h(doc, "span", { class: "ab-muted", text: formatAgo(run.started_at, opts.now) }),
          ]),
        ],
      ),
    );
  }
  return section(doc, "runs", "Recent runs", [list], { open });
}

function placeholder(doc, state, id, title, what) {
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
    { extraClass: "ab-section-reserved", open: isSectionOpen(state, id) },
  );
}

/**
 * Build the whole sidebar for a state. The view (which run is shown, which sections are shut) comes
 * from state.view. opts: {now (epoch seconds), showSignalTrace, version (pack version string or ""),
 * connected (websocket up)}.
 */
export function renderSidebar(doc, state, opts = {}) {
  const o = { now: Date.now() / 1000, showSignalTrace: true, version: "", connected: true, ...opts };
  const shown = shownRun(state);
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
    placeholder(doc, state, "attention", "Attention tuning", "Tuning rounds and the chosen attention kernels appear here when a workflow tunes attention."),
  );
  root.append(
    placeholder(doc, state, "quantization", "Quantization", "The quantized layers and their memory saving appear here when a workflow quantizes a model."),
  );
  return root;
}
