// Afterburner sidebar: keyboard focus across redraws. The sidebar is rebuilt from the state on every
// change, which would drop the focus of whatever control had it. Focusable elements carry a stable
// data-focus-key (and optionally data-focus-fallback, a key to fall back to when they vanish, like the
// "show latest" button does once used); the key is read before a redraw and focused again after it.
// Pure DOM calls on the nodes passed in, no globals.

/** The focus key under `active` inside `container`: {key, fallback} or null when focus is elsewhere. */
export function focusKeyOf(container, active) {
  if (!container || !active || typeof active.closest !== "function") return null;
  if (typeof container.contains === "function" && !container.contains(active)) return null;
  const el = active.closest("[data-focus-key]");
  if (!el || (typeof container.contains === "function" && !container.contains(el))) return null;
  const key = el.getAttribute("data-focus-key");
  if (!key) return null;
  return { key, fallback: el.getAttribute("data-focus-fallback") || null };
}

/** The element in `container` with this focus key (compared as a string, so no selector escaping). */
export function findFocusKey(container, key) {
  if (!container || !key) return null;
  for (const el of container.querySelectorAll("[data-focus-key]")) {
    if (el.getAttribute("data-focus-key") === key) return el;
  }
  return null;
}

/** Focus the element saved by focusKeyOf (or its fallback) again; returns the element focused, or null. */
export function restoreFocus(container, saved) {
  if (!saved) return null;
  for (const key of [saved.key, saved.fallback]) {
    const el = findFocusKey(container, key);
    if (el && typeof el.focus === "function") {
      el.focus({ preventScroll: true });
      return el;
    }
  }
  return null;
}
