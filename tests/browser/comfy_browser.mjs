// What the browser tests share: a real ComfyUI server started through devtools.comfy_server, its HTTP API,
// and Debian's Chromium driven by playwright-core in a fresh profile that can reach nothing but loopback.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ARTIFACTS = path.join(REPO, "tests", "artifacts");
const CHROMIUM = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Start ComfyUI on `port` (0: any free one); resolves {proc, url, port, logPath, output()} once it is READY. */
export function startServer({ port = 0, comfyArgs = [] } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      path.join(REPO, ".venv", "bin", "python"),
      ["-m", "devtools.comfy_server", "--port", String(port), "--", ...comfyArgs],
      // detached: its own process group, so the whole tree can be killed at the end
      { cwd: REPO, detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let logPath = "";
    const timer = setTimeout(() => reject(new Error(`no READY line in 120 s:\n${out}`)), 120_000);
    const onData = (chunk) => {
      out += chunk.toString();
      logPath = out.match(/ComfyUI log: (\S+)/)?.[1] ?? logPath;
      const ready = out.match(/READY (http:\/\/\S+)/);
      if (ready) {
        clearTimeout(timer);
        resolve({ proc, url: ready[1], port: Number(new URL(ready[1]).port), logPath, output: () => out });
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`devtools.comfy_server exited with ${code} before READY:\n${out}`));
    });
  });
}

/** Kill the server's process group; resolves once the comfy_server process has exited. */
export function stopServer(server) {
  const proc = server?.proc;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  try {
    process.kill(-proc.pid, "SIGTERM");
  } catch {
    return Promise.resolve();
  }
  const killLater = setTimeout(() => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, 8000);
  killLater.unref();
  return exited.then(() => clearTimeout(killLater));
}

/** GET (no body) or POST JSON to the server; the parsed JSON (or text); throws on a non-2xx answer. */
export async function request(baseUrl, pathname, body) {
  const method = body === undefined ? "GET" : "POST";
  const response = await fetch(baseUrl + pathname, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  if (!response.ok) throw new Error(`${method} ${pathname} -> ${response.status}: ${text.slice(0, 2000)}`);
  return json;
}

/** Poll `fn` until it returns something truthy, and return that. */
export async function waitFor(fn, { timeout = 30_000, interval = 200, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
}

const isLoopback = (url) => {
  try {
    const { protocol, hostname } = new URL(url);
    if (protocol === "data:" || protocol === "blob:") return true;
    return ["127.0.0.1", "localhost", "[::1]", "::1"].includes(hostname);
  } catch {
    return false;
  }
};

/** Chromium in a fresh profile (no cached settings, workflows or service workers), loopback only, with the
 * first-load dialogs out of the way; resolves {context, page, close()}. */
export async function openBrowser(server) {
  mkdirSync(ARTIFACTS, { recursive: true });
  assert.ok(CHROMIUM, "Chromium not found at /usr/lib/chromium/chromium or /usr/bin/chromium");
  // A new user gets the templates dialog on first load; mark the tutorial done so the canvas is clear.
  await request(server.url, "/api/settings/Comfy.TutorialCompleted", true);
  const profileDir = mkdtempSync(path.join(tmpdir(), "afterburner-chromium-"));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1440, height: 900 },
  });
  await context.route("**/*", (route) => (isLoopback(route.request().url()) ? route.continue() : route.abort()));
  // The "Nodes 2.0" banner would cover the top of the screenshots.
  await context.addInitScript(() => localStorage.setItem("vueNodesBannerDismissed", "true"));
  const page = context.pages()[0] ?? (await context.newPage());
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profileDir, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** Open the Afterburner sidebar tab in page `p` (a no-op when it is already open). */
export async function openTab(p) {
  const button = p.locator(".afterburner-tab-button").first();
  await button.waitFor({ state: "visible", timeout: 20_000 });
  if (!(await p.locator(".ab-sidebar").count())) await button.click();
  await p.locator(".ab-sidebar").first().waitFor({ state: "visible", timeout: 10_000 });
}
