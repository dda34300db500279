// Tiny DOM helpers: elements are built with textContent only, so nothing the host sends is
// ever parsed as HTML.

/** h("tag#id.class", {attr: value, onclick: fn}, ...children) -> the element. */
export function h(spec, attrs = {}, ...children) {
  const [head, ...classes] = spec.split(".");
  const [tag, id] = head.split("#");
  const el = document.createElement(tag || "div");
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace what `el` holds with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An SVG element (the spend chart). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

/** A table: `columns` are [title, (row) => cell] pairs. */
export function table(columns, rows, rowAttrs = () => ({})) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", {}, title)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs(row), columns.map(([, cell]) => h("td", {}, cell(row)))))),
  );
}

// Times come as ms since the epoch, as numbers or (proto int64 in JSON) strings.
export const when = (ms) => (Number(ms) ? new Date(Number(ms)).toLocaleTimeString([], { hour12: false }) : "");
export const money = (usd) => `$${Number(usd || 0).toFixed(usd && usd < 0.01 ? 5 : 2)}`;
export const millis = (ms) => (ms === undefined || ms === null ? "" : `${Math.round(ms)} ms`);
