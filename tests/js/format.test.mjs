import assert from "node:assert/strict";
import { test } from "node:test";

import {
  formatAgo,
  formatBytes,
  formatCalls,
  formatCapability,
  formatCompileKind,
  formatCompiles,
  formatComputeFraction,
  formatDuration,
  formatMethod,
  formatNumber,
  formatPercent,
  formatSpeedup,
  formatStatus,
} from "../../web/js/format.js";

test("durations", () => {
  assert.equal(formatDuration(0), "0 ms");
  assert.equal(formatDuration(0.8504), "850 ms");
  assert.equal(formatDuration(4.2), "4.20 s");
  assert.equal(formatDuration(12.34), "12.3 s");
  assert.equal(formatDuration(125), "2 m 05 s");
  assert.equal(formatDuration(3725), "1 h 02 m");
  assert.equal(formatDuration(-1), "–");
  assert.equal(formatDuration(null), "–");
  assert.equal(formatDuration(NaN), "–");
});

test("fractions and percentages", () => {
  assert.equal(formatComputeFraction(0.6428), "64% compute");
  assert.equal(formatComputeFraction(1), "100% compute");
  assert.equal(formatComputeFraction(0), "0% compute");
  assert.equal(formatPercent(0.999), "99%", "never rounds a partial saving up to 100%");
  assert.equal(formatPercent(0.001), "1%", "never rounds some work down to 0%");
  assert.equal(formatComputeFraction(null), "–");
});

test("speed-up in model calls", () => {
  assert.equal(formatSpeedup(0.64), "1.56×");
  assert.equal(formatSpeedup(18 / 28), "1.56×");
  assert.equal(formatSpeedup(1), "1.00×");
  assert.equal(formatSpeedup(0.05), "20.0×");
  assert.equal(formatSpeedup(0), "–");
  assert.equal(formatSpeedup(undefined), "–");
});

test("bytes", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(12 * 1024 * 1024), "12 MiB");
  assert.equal(formatBytes(10.5 * 1024 * 1024), "10.5 MiB");
  assert.equal(formatBytes(300 * 1024 ** 3), "300 GiB");
  assert.equal(formatBytes(-5), "–");
});

test("calls, numbers, status, method, time ago", () => {
  assert.equal(formatCalls(18, 28), "18/28 computed");
  assert.equal(formatCalls(null, 28), "–");
  assert.equal(formatNumber(14.6146), "14.6");
  assert.equal(formatNumber(0.031234), "0.0312");
  assert.equal(formatNumber(0.0000123), "1.2e-5");
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(null), "–");
  assert.equal(formatStatus("ok"), "finished");
  assert.equal(formatStatus("error"), "failed");
  assert.equal(formatStatus("interrupted"), "interrupted");
  assert.equal(formatStatus(undefined), "unknown");
  assert.equal(formatMethod("cache:adaptive"), "cache · adaptive");
  assert.equal(formatMethod(""), "–");
  assert.equal(formatAgo(100, 105), "just now");
  assert.equal(formatAgo(100, 130), "30 s ago");
  assert.equal(formatAgo(100, 100 + 180), "3 m ago");
  assert.equal(formatAgo(100, 100 + 7200), "2 h ago");
  assert.equal(formatAgo(100, 100 + 3 * 86400), "3 d ago");
  assert.equal(formatAgo(null, 100), "");
});

test("capability chips", () => {
  assert.equal(formatCapability({ name: "cache", label: "adaptive" }), "cache: adaptive");
  assert.equal(formatCapability({ name: "cache", label: "cache:adaptive" }), "cache: adaptive");
  assert.equal(formatCapability({ name: "compile", label: "compile" }), "compile");
  assert.equal(formatCapability({ name: "compile", label: "" }), "compile");
  assert.equal(formatCapability({ name: "quant", label: "fp8 e4m3" }), "quant: fp8 e4m3");
  assert.equal(formatCapability(null), "–");
});

test("compile counts and kinds", () => {
  assert.equal(formatCompiles(1), "1 compile");
  assert.equal(formatCompiles(0), "0 compiles");
  assert.equal(formatCompiles(3, 1), "3 compiles (1 recompile)");
  assert.equal(formatCompiles(5, 2), "5 compiles (2 recompiles)");
  assert.equal(formatCompiles(null), "–");
  assert.equal(formatCompileKind({ recompile: false, reason: "" }), "first compile");
  assert.equal(formatCompileKind({ recompile: false, reason: "new model" }), "first compile: new model");
  assert.equal(formatCompileKind({ recompile: true, count: 2, reason: "size changed" }), "recompile #2: size changed");
  assert.equal(formatCompileKind({ recompile: true, count: null, reason: "" }), "recompile #?: reason unknown");
});
