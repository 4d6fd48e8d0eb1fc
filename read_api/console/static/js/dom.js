// Building the page from data without ever parsing it as HTML: tenant and department names come
// from the platform and are untrusted, so every piece of text goes in as a text node.

/**
 * h("a", {href: "#/x", class: "link", onClick: fn}, "text", child, [more])
 * Attributes: `class`, `dataset` (object), `on<Event>` (listener), booleans (true sets, false omits),
 * anything else via setAttribute. Children: strings/numbers (text), nodes, arrays, null (skipped).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

let nextId = 0;
/** An id unique in the page, for aria-controls / labels (codes from the platform may hold any character). */
export function uniqueId(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** Announce a short message to screen readers (and keep it visible in the status line if given). */
export function announce(message) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 50);
}
