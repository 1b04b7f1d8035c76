// Afterburner's frontend extension: the sidebar tab, toasts for notices, settings, an About badge,
// and a small result badge on Afterburner nodes. Served at /extensions/<pack folder>/js/afterburner.js.
//
// Everything that is not wiring lives in pure modules: store.js (state), format.js, timeline.js,
// render.js (DOM from state). This file connects them to ComfyUI and stays defensive: a failure here
// must never break the graph editor.

import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { focusKeyOf, restoreFocus } from "./focus.js";
import { formatCalls, formatCompiles } from "./format.js";
import { renderSidebar } from "./render.js";
import {
  DEFAULT_HISTORY_LENGTH,
  MAX_HISTORY_LENGTH,
  compileCounts,
  initialState,
  nodeCapability,
  reduce,
  runCounts,
  runForNode,
  runHasCache,
} from "./store.js";

const EXTENSION = "afterburner.sidebar";
const TAB_ID = "afterburner";
const EVENT_KINDS = ["run_started", "step", "run_finished", "compile", "notice"];
const SETTING_HISTORY = "Afterburner.Sidebar.HistoryLength";
const SETTING_TRACE = "Afterburner.Sidebar.ShowSignalTrace";
const TOAST_SEVERITY = { warning: "warn", error: "error" }; // PrimeVue's names

let state = initialState(DEFAULT_HISTORY_LENGTH);
let showSignalTrace = true;
let connected = true;
let packVersion = "";
const containers = new Set();
let renderQueued = false;
let drawWarned = false;

const log = (...args) => console.warn("[Afterburner]", ...args);

// --- state -------------------------------------------------------------------------------------------

function dispatch(action) {
  const next = reduce(state, action);
  if (next === state) return;
  state = next;
  scheduleRender();
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  const run = () => {
    renderQueued = false;
    renderAll();
    markCanvasDirty();
  };
  // Steps can arrive faster than frames; coalesce them. A hidden tab gets no frames, so fall back.
  if (typeof requestAnimationFrame === "function" && document.visibilityState !== "hidden") {
    requestAnimationFrame(run);
  } else {
    setTimeout(run, 100);
  }
}

function renderAll() {
  for (const el of containers) {
    if (!el.isConnected) {
      containers.delete(el);
      continue;
    }
    renderInto(el);
  }
}

function renderInto(el) {
  try {
    // The redraw replaces every element: remember which control had the keyboard focus, focus its
    // equivalent in the new tree.
    const focused = focusKeyOf(el, document.activeElement);
    const view = renderSidebar(document, state, {
      now: Date.now() / 1000,
      showSignalTrace,
      version: packVersion,
      connected,
    });
    el.replaceChildren(view);
    if (focused) restoreFocus(el, focused);
  } catch (err) {
    log("could not render the sidebar", err);
  }
}

function onSidebarClick(event) {
  const target = event.target instanceof Element ? event.target.closest("[data-ab-action]") : null;
  if (!target) return;
  const action = target.getAttribute("data-ab-action");
  if (action === "select-run") dispatch({ type: "toggle_run", data: target.getAttribute("data-run-id") });
  else if (action === "show-latest") dispatch({ type: "select_run", data: null });
  else if (action === "toggle-section") dispatch({ type: "toggle_section", data: target.getAttribute("data-section") });
}

function onSidebarKey(event) {
  if ((event.key === "Enter" || event.key === " ") && event.target?.getAttribute?.("data-ab-action")) {
    event.preventDefault();
    onSidebarClick(event);
  }
}

// --- server ------------------------------------------------------------------------------------------

async function fetchJson(path) {
  const response = await api.fetchApi(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`);
  return response.json();
}

/**
 * Catch up from the routes: on load, on reconnect, and when the history length grows. After a reconnect
 * (`replace`) the server's snapshot replaces what the page held: a restarted server has a new history.
 */
async function refresh(replace = false) {
  const [runs, events] = await Promise.allSettled([
    fetchJson(`/afterburner/runs?limit=${state.historyLength}`),
    fetchJson("/afterburner/events"),
  ]);
  if (runs.status === "fulfilled") dispatch({ type: "history_loaded", data: { ...runs.value, replace } });
  else log("could not load recent runs:", runs.reason?.message ?? runs.reason);
  if (events.status === "fulfilled") dispatch({ type: "history_loaded", data: { ...events.value, replace } });
  else log("could not load compile events and notices:", events.reason?.message ?? events.reason);
}

async function loadHealth() {
  try {
    const health = await fetchJson("/afterburner/health");
    packVersion = typeof health?.version === "string" ? health.version : "";
    if (packVersion) aboutBadge.label = `Afterburner v${packVersion}`;
    scheduleRender();
  } catch (err) {
    log("could not read /afterburner/health:", err?.message ?? err);
  }
}

function onEvent(kind, event) {
  const data = event?.detail;
  dispatch({ type: kind, data });
  if (kind === "notice") toastNotice(data);
}

/**
 * Only toast.add is used: it is the one call every frontend has ({severity, summary, detail, life}).
 * 1.57+ removed toast.remove and toast.removeAll, so toasts here expire by their `life` and nothing
 * here ever removes one.
 */
function toastNotice(data) {
  const severity = TOAST_SEVERITY[data?.severity];
  if (!severity || typeof data?.message !== "string") return;
  const toast = app.extensionManager?.toast;
  if (typeof toast?.add !== "function") return;
  try {
    toast.add({
      severity,
      summary: data.source ? `Afterburner: ${data.source}` : "Afterburner",
      detail: data.message,
      life: severity === "error" ? 15000 : 8000,
    });
  } catch (err) {
    log("could not show a toast", err);
  }
}

// --- the sidebar tab ---------------------------------------------------------------------------------

function loadStylesheet() {
  const href = new URL("../css/afterburner.css", import.meta.url).href;
  if (document.querySelector(`link[data-afterburner-css]`)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  link.setAttribute("data-afterburner-css", "");
  document.head.append(link);
}

function registerTab() {
  const tab = {
    id: TAB_ID,
    icon: "pi pi-bolt",
    title: "Afterburner",
    tooltip: "Afterburner: what caching and compilation did in each run",
    type: "custom",
    render(el) {
      // The frontend may call render again for the same element when it re-renders the panel.
      if (!containers.has(el)) {
        containers.add(el);
        el.classList.add("ab-root");
        el.addEventListener("click", onSidebarClick);
        el.addEventListener("keydown", onSidebarKey);
      }
      renderInto(el);
    },
    destroy() {
      for (const el of containers) {
        el.removeEventListener("click", onSidebarClick);
        el.removeEventListener("keydown", onSidebarKey);
      }
      containers.clear();
    },
  };
  const manager = app.extensionManager;
  if (manager?.sidebarTab?.registerSidebarTab) manager.sidebarTab.registerSidebarTab(tab);
  else manager.registerSidebarTab(tab); // deprecated in 1.32 but present
}

// --- node badges -------------------------------------------------------------------------------------

const isAfterburnerNode = (name) =>
  typeof name === "string" && name.startsWith("Afterburner") && !name.startsWith("AfterburnerDev");

function badgeText(node) {
  const run = runForNode(state, node.id);
  if (!run) return null;
  let text;
  // A compile node reports its run's compiles; a cache node (or any node of a run without a tag) its calls.
  if (nodeCapability(run, node.id) === "compile" || !runHasCache(run)) {
    const cc = compileCounts(run);
    if (!cc.compiles && run.status === "running") return null;
    text = formatCompiles(cc.compiles, cc.recompiles);
  } else {
    const counts = runCounts(run);
    if (!counts.total) return null;
    text = formatCalls(counts.computed, counts.total);
  }
  return run.status === "running" ? `${text}…` : run.status === "ok" ? text : `${text} (${run.status})`;
}

/** A small pill above the node's title bar, right-aligned, so it never covers the title or widgets. */
function drawBadge(node, ctx) {
  const nodeWidth = node.size?.[0];
  if (node.flags?.collapsed || !(nodeWidth > 0)) return;
  const text = badgeText(node);
  if (!text) return;
  const titleHeight = globalThis.LiteGraph?.NODE_TITLE_HEIGHT ?? 30;
  ctx.save();
  ctx.font = "11px Inter, Arial, sans-serif";
  const width = Math.ceil(ctx.measureText(text).width) + 14;
  const height = 18;
  const x = Math.max(0, nodeWidth - width);
  const y = -titleHeight - height - 4;
  ctx.fillStyle = "rgba(20, 24, 32, 0.85)";
  ctx.strokeStyle = "rgba(255, 170, 60, 0.9)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  if (ctx.roundRect) ctx.roundRect(x, y, width, height, 9);
  else ctx.rect(x, y, width, height);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = "#f4f4f4";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  ctx.fillText(text, x + 7, y + height / 2 + 0.5);
  ctx.restore();
}

function markCanvasDirty() {
  try {
    app.graph?.setDirtyCanvas?.(true, false);
  } catch {
    // no canvas yet
  }
}

// --- settings and About ------------------------------------------------------------------------------

const aboutBadge = { label: "Afterburner", url: apiUrl("/afterburner/health"), icon: "pi pi-bolt" };

function apiUrl(path) {
  try {
    return api.apiURL(path);
  } catch {
    return `/api${path}`;
  }
}

const extension = {
  name: EXTENSION,

  settings: [
    {
      id: SETTING_HISTORY,
      category: ["Afterburner", "Sidebar", "History length"],
      name: "Runs kept in the sidebar",
      tooltip: "How many recent sampling runs the Afterburner sidebar lists.",
      type: "slider",
      attrs: { min: 1, max: MAX_HISTORY_LENGTH, step: 1 },
      defaultValue: DEFAULT_HISTORY_LENGTH,
      onChange(value) {
        const before = state.historyLength;
        dispatch({ type: "set_history_length", data: value });
        // More room than before: fetch the older runs that were dropped.
        if (state.historyLength > before && state.loaded) refresh();
      },
    },
    {
      id: SETTING_TRACE,
      category: ["Afterburner", "Sidebar", "Signal trace"],
      name: "Show the signal-vs-threshold trace",
      tooltip: "Draw the cache signal of each step against its threshold under the step timeline.",
      type: "boolean",
      defaultValue: true,
      onChange(value) {
        showSignalTrace = value !== false;
        scheduleRender();
      },
    },
  ],

  aboutPageBadges: [aboutBadge],

  async setup() {
    // Listeners first: 1.32 drops websocket messages of a type nobody listens to.
    for (const kind of EVENT_KINDS) {
      api.addEventListener(`afterburner.${kind}`, (event) => onEvent(kind, event));
    }
    api.addEventListener("reconnecting", () => {
      connected = false;
      scheduleRender();
    });
    api.addEventListener("reconnected", () => {
      connected = true;
      scheduleRender();
      refresh(true);
    });
    try {
      loadStylesheet();
      registerTab();
    } catch (err) {
      log("could not register the sidebar tab", err);
    }
    refresh();
    loadHealth();
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!isAfterburnerNode(nodeData?.name)) return;
    const original = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx, ...rest) {
      const result = original?.apply(this, [ctx, ...rest]);
      try {
        drawBadge(this, ctx);
      } catch (err) {
        if (!drawWarned) log("could not draw a node badge", err);
        drawWarned = true;
      }
      return result;
    };
  },

  /** For tests and debugging: the current store state (read-only by convention). */
  getState() {
    return state;
  },
};

app.registerExtension(extension);
