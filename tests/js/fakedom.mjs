// A small stand-in for the DOM, enough for render.js and focus.js in node: elements with attributes,
// children, text, a style with setProperty, closest/contains/querySelector(All) for simple selectors
// (tag, .class, [attr], [attr="value"], compound, and descendant with a space), and focus().

class FakeText {
  constructor(text) {
    this.nodeType = 3;
    this.parentNode = null;
    this.data = String(text);
  }
  get textContent() {
    return this.data;
  }
}

class FakeElement {
  constructor(doc, tag) {
    this.ownerDocument = doc;
    this.nodeType = 1;
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.childNodes = [];
    this.parentNode = null;
    const props = {};
    this.style = { props, setProperty: (k, v) => (props[k] = String(v)) };
  }
  get className() {
    return this.attributes.get("class") ?? "";
  }
  set className(v) {
    this.attributes.set("class", String(v));
  }
  get classList() {
    return this.className.split(/\s+/).filter(Boolean);
  }
  get children() {
    return this.childNodes.filter((n) => n.nodeType === 1);
  }
  setAttribute(k, v) {
    this.attributes.set(k, String(v));
  }
  getAttribute(k) {
    return this.attributes.has(k) ? this.attributes.get(k) : null;
  }
  hasAttribute(k) {
    return this.attributes.has(k);
  }
  append(...nodes) {
    for (const n of nodes) {
      const node = typeof n === "string" ? new FakeText(n) : n;
      if (node.parentNode) node.parentNode.childNodes = node.parentNode.childNodes.filter((c) => c !== node);
      node.parentNode = this;
      this.childNodes.push(node);
    }
  }
  replaceChildren(...nodes) {
    // As in a browser, a focused element that leaves the document gives the focus back to the body.
    const active = this.ownerDocument.activeElement;
    const hadFocus = active && active !== this && this.contains(active);
    for (const c of this.childNodes) c.parentNode = null;
    this.childNodes = [];
    this.append(...nodes);
    if (hadFocus && !this.contains(active)) this.ownerDocument.activeElement = this.ownerDocument.body;
  }
  get textContent() {
    return this.childNodes.map((c) => c.textContent).join("");
  }
  set textContent(v) {
    this.childNodes = [];
    this.append(String(v));
  }
  contains(node) {
    for (let n = node; n; n = n.parentNode) if (n === this) return true;
    return false;
  }
  matches(selector) {
    return matchesSelector(this, selector);
  }
  closest(selector) {
    for (let n = this; n && n.nodeType === 1; n = n.parentNode) if (n.matches(selector)) return n;
    return null;
  }
  querySelectorAll(selector) {
    const out = [];
    const walk = (el) => {
      for (const c of el.children) {
        if (c.matches(selector)) out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }
  focus() {
    this.ownerDocument.activeElement = this;
  }
}

function matchesCompound(el, compound) {
  const re = /([a-z0-9]+)|\.([\w-]+)|\[([\w-]+)(?:="([^"]*)")?\]/giy;
  let m;
  let pos = 0;
  re.lastIndex = 0;
  while (pos < compound.length && (m = re.exec(compound))) {
    pos = re.lastIndex;
    if (m[1] && el.tagName !== m[1].toUpperCase()) return false;
    if (m[2] && !el.classList.includes(m[2])) return false;
    if (m[3] && (!el.hasAttribute(m[3]) || (m[4] !== undefined && el.getAttribute(m[3]) !== m[4]))) return false;
  }
  if (pos !== compound.length) throw new Error(`fakedom: unsupported selector ${compound}`);
  return true;
}

function matchesSelector(el, selector) {
  const parts = selector.trim().match(/(?:[^\s"[]+|\[[^\]]*\])+/g);
  if (!matchesCompound(el, parts.at(-1))) return false;
  let node = el.parentNode;
  for (let i = parts.length - 2; i >= 0; i--) {
    while (node && node.nodeType === 1 && !matchesCompound(node, parts[i])) node = node.parentNode;
    if (!node || node.nodeType !== 1) return false;
    node = node.parentNode;
  }
  return true;
}

export function fakeDocument() {
  const doc = { activeElement: null };
  doc.createElement = (tag) => new FakeElement(doc, tag);
  doc.createElementNS = (_ns, tag) => new FakeElement(doc, tag);
  doc.body = doc.createElement("body");
  doc.activeElement = doc.body;
  return doc;
}
