// Building the page without innerHTML: every piece of text the API returns goes in as a text
// node, so nothing a user typed (a prompt, an email) can ever become markup.

const BOOLEAN_ATTRS = new Set([
  "disabled", "checked", "required", "hidden", "selected", "readonly", "multiple", "open",
  "autofocus", "controls", "playsinline", "muted", "novalidate",
]);

/** h("button", {class: "primary", onclick: fn}, "Save") -> <button class="primary">Save</button> */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        el.addEventListener(name.slice(2), value);
      } else if (name === "class") {
        el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
      } else if (name === "dataset") {
        Object.assign(el.dataset, value);
      } else if (name === "value" && "value" in el) {
        el.value = value;
      } else if (BOOLEAN_ATTRS.has(name)) {
        el.toggleAttribute(name, Boolean(value));
        if (name in el) el[name] = Boolean(value);
      } else {
        el.setAttribute(name, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let uid = 0;
/** A unique id for pairing labels, hints and errors with their inputs. */
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** An SVG icon from a small set drawn with paths; aria-hidden since it is decoration. */
const ICONS = {
  play: "M8 5v14l11-7z",
  download: "M12 3v12m0 0-5-5m5 5 5-5M4 19h16",
  trash: "M4 7h16M9 7V4h6v3m-8 0 1 13h8l1-13",
  spark: "M12 2l2.2 6.8L21 11l-6.8 2.2L12 20l-2.2-6.8L3 11l6.8-2.2z",
  clock: "M12 7v5l3 2M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z",
  check: "M5 12l5 5L20 7",
  alert: "M12 8v5m0 3v.01M10.3 3.9 2.5 17.5A2 2 0 0 0 4.2 20.5h15.6a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z",
  coin: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zm0-14v10m-3-7.5c0-1.4 1.3-2.5 3-2.5s3 1.1 3 2.5-1.3 2-3 2.5-3 1.1-3 2.5 1.3 2.5 3 2.5 3-1.1 3-2.5",
  film: "M4 4h16v16H4zM8 4v16M16 4v16M4 9h4m8 0h4M4 15h4m8 0h4",
  lock: "M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4",
  mail: "M3 6h18v12H3zm0 0 9 7 9-7",
  shield: "M12 3 4 6v6c0 5 3.5 8 8 9 4.5-1 8-4 8-9V6z",
  close: "M6 6l12 12M18 6 6 18",
};

export function icon(name, extraClass = "") {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `icon ${extraClass}`.trim());
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name] || ICONS.spark);
  svg.append(path);
  return svg;
}
