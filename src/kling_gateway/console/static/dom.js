// el("tag", {attr: value}, ...children): a tiny DOM builder (strings become text, never HTML).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function errorBox(err) {
  const code = err.code !== undefined ? `${err.code}` : "";
  return el("div", { class: "error", role: "alert", "data-code": code },
    el("strong", {}, `Error ${code}`), ": ", err.message,
    err.requestId ? el("span", { class: "hint" }, ` (request ${err.requestId})`) : null);
}

export function when(ms) {
  return ms ? new Date(Number(ms)).toLocaleString() : "";
}
