// Afterburner sidebar: number and text formatting. Pure functions, no DOM, no ComfyUI imports.

const isNum = (v) => typeof v === "number" && Number.isFinite(v);

/** Seconds as a short human duration: "850 ms", "4.2 s", "2 m 05 s", "1 h 02 m". */
export function formatDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} m`;
  return `${m} m ${String(s).padStart(2, "0")} s`;
}

/** A fraction 0..1 as a whole percentage: 0.6428 -> "64%". */
export function formatPercent(fraction) {
  if (!isNum(fraction)) return "–";
  const pct = fraction * 100;
  // Never print "100%" for 0.999 nor "0%" for 0.001: the extremes mean exactly all or nothing.
  const rounded = pct > 0 && pct < 1 ? 1 : pct < 100 && pct > 99 ? 99 : Math.round(pct);
  return `${rounded}%`;
}

/** The share of model calls that really ran: 0.64 -> "64% compute". */
export function formatComputeFraction(fraction) {
  return isNum(fraction) ? `${formatPercent(fraction)} compute` : "–";
}

/**
 * Speed-up in model calls implied by a compute fraction: 0.64 -> "1.56×".
 * (Model calls / computed calls; wall-clock speed-up also depends on per-step overhead.)
 */
export function formatSpeedup(fraction) {
  if (!isNum(fraction) || fraction <= 0) return "–";
  const x = 1 / fraction;
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

/** Bytes in binary units: 0 -> "0 B", 1536 -> "1.5 KiB", 12582912 -> "12 MiB". */
export function formatBytes(bytes) {
  if (!isNum(bytes) || bytes < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value >= 100 ? Math.round(value) : value >= 10 ? value.toFixed(1).replace(/\.0$/, "") : value.toFixed(1)} ${units[unit]}`;
}

/** "18/28 computed". */
export function formatCalls(computed, total) {
  if (!isNum(computed) || !isNum(total)) return "–";
  return `${computed}/${total} computed`;
}

/** A sigma or signal value, compact: 14.61, 0.0312, 1.2e-5. */
export function formatNumber(value, digits = 3) {
  if (!isNum(value)) return "–";
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(1);
  return String(Number(value.toPrecision(digits)));
}

/** Time since an epoch-seconds stamp, relative to `nowSeconds`: "just now", "3 m ago", "2 h ago". */
export function formatAgo(epochSeconds, nowSeconds) {
  if (!isNum(epochSeconds) || !isNum(nowSeconds)) return "";
  const dt = Math.max(0, nowSeconds - epochSeconds);
  if (dt < 10) return "just now";
  if (dt < 60) return `${Math.floor(dt)} s ago`;
  if (dt < 3600) return `${Math.floor(dt / 60)} m ago`;
  if (dt < 86400) return `${Math.floor(dt / 3600)} h ago`;
  return `${Math.floor(dt / 86400)} d ago`;
}

/** The status of a run as a short label. */
export function formatStatus(status) {
  switch (status) {
    case "running":
      return "running";
    case "ok":
      return "finished";
    case "interrupted":
      return "interrupted";
    case "error":
      return "failed";
    default:
      return String(status ?? "unknown");
  }
}

/** A method id "cache:adaptive" as "cache · adaptive". */
export function formatMethod(method) {
  if (typeof method !== "string" || !method) return "–";
  return method.split(":").join(" · ");
}

/** A capability chip: {name: "cache", label: "adaptive"} -> "cache: adaptive"; no label -> "compile". */
export function formatCapability(cap) {
  const name = typeof cap?.name === "string" ? cap.name : "";
  let label = typeof cap?.label === "string" ? cap.label.trim() : "";
  if (label.startsWith(`${name}:`)) label = label.slice(name.length + 1).trim(); // "cache:adaptive"
  if (!name) return label || "–";
  return label && label !== name ? `${name}: ${label}` : name;
}

/** A compile count: 1 -> "1 compile", 3 (1 a recompile) -> "3 compiles (1 recompile)". */
export function formatCompiles(compiles, recompiles = 0) {
  if (!isNum(compiles)) return "–";
  const base = `${compiles} ${compiles === 1 ? "compile" : "compiles"}`;
  if (!isNum(recompiles) || recompiles <= 0) return base;
  return `${base} (${recompiles} ${recompiles === 1 ? "recompile" : "recompiles"})`;
}

/** What one compile was: "first compile", "first compile: <reason>", "recompile #2: <reason>". */
export function formatCompileKind(compile) {
  if (compile?.recompile) return `recompile #${compile.count ?? "?"}: ${compile.reason || "reason unknown"}`;
  return compile?.reason ? `first compile: ${compile.reason}` : "first compile";
}
