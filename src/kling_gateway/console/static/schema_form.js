// A form generated from a request model's JSON Schema (the OpenAPI document's, i.e. the same
// pydantic wire models that validate the API): a new family needs no new page.

import { el } from "./dom.js";

const MEDIA_FIELD = /(^|_)(image|audio_file|audio)(_|$)/;

function resolve(schema, components) {
  let s = schema;
  for (let i = 0; i < 10 && s; i++) {
    if (s.$ref) s = components[s.$ref.split("/").pop()];
    else if (s.allOf && s.allOf.length === 1) s = { ...s.allOf[0], ...s, allOf: undefined };
    else if (s.anyOf) {
      const real = s.anyOf.filter((x) => x.type !== "null");
      if (real.length !== 1) return { ...s, kind: "json" };
      s = { ...real[0], description: s.description ?? real[0].description, default: s.default ?? real[0].default, title: s.title ?? real[0].title };
    } else break;
  }
  return s;
}

function kindOf(s, name) {
  if (s.kind) return s.kind;
  if (s.enum) return "enum";
  if (s.type === "boolean") return "boolean";
  if (s.type === "integer" || s.type === "number") return "number";
  if (s.type === "string") return MEDIA_FIELD.test(name) && !/(_url|_id)$/.test(name) ? "media" : "string";
  if (s.type === "object" && s.properties) return "object";
  return "json";
}

function describe(s) {
  const parts = [];
  if (s.description) parts.push(s.description);
  if (s.enum) parts.push(`one of ${s.enum.join(", ")}`);
  if (s.minimum !== undefined || s.maximum !== undefined) parts.push(`${s.minimum ?? "…"}–${s.maximum ?? "…"}`);
  if (s.default !== undefined && s.default !== null) parts.push(`default ${JSON.stringify(s.default)}`);
  return parts.join("; ");
}

export function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function control(path, name, s, required, components) {
  const kind = kindOf(s, name);
  const id = "f-" + path.replaceAll(".", "-");
  if (kind === "object") {
    const box = el("fieldset", { "data-group": path }, el("legend", {}, name));
    for (const [child, childSchema] of Object.entries(s.properties)) {
      box.append(control(`${path}.${child}`, child, resolve(childSchema, components), (s.required ?? []).includes(child), components));
    }
    return box;
  }
  let input;
  if (kind === "enum") {
    input = el("select", { id }, el("option", { value: "" }, required ? "(choose)" : "(default)"), ...s.enum.map((v) => el("option", { value: String(v) }, String(v))));
  } else if (kind === "boolean") {
    input = el("select", { id }, el("option", { value: "" }, "(default)"), el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
  } else if (kind === "number") {
    input = el("input", { id, type: "number", step: s.type === "integer" ? "1" : "any" });
  } else if (kind === "json") {
    input = el("textarea", { id, rows: "3", placeholder: "JSON" });
  } else if (/prompt/.test(name)) {
    input = el("textarea", { id, rows: "3" });
  } else {
    input = el("input", { id, type: "text" });
  }
  input.dataset.path = path;
  input.dataset.kind = kind === "media" ? "string" : kind === "enum" && s.type === "integer" ? "number" : kind;
  const field = el("div", { class: "field", "data-field": path },
    el("label", { for: id }, name, required ? el("span", { "aria-hidden": "true" }, " *") : null), input);
  if (required) input.setAttribute("aria-required", "true"); // said once, not as a star
  if (kind === "media") {
    const accept = name.includes("audio") ? "audio/*" : "image/*";
    const picker = el("input", { type: "file", accept, id: id + "-file", "aria-label": `${name}: choose a file (sent as Base64)` });
    picker.addEventListener("change", async () => {
      if (picker.files[0]) input.value = await fileToBase64(picker.files[0]);
    });
    field.append(picker);
  }
  const hint = describe(s);
  if (hint) field.append(el("div", { class: "hint" }, hint));
  field.append(el("div", { class: "field-error", role: "alert" }));
  return field;
}

export function buildForm(schema, components) {
  const root = resolve(schema, components);
  const wrap = el("div", { class: "schema-form" });
  for (const [name, s] of Object.entries(root.properties ?? {})) {
    wrap.append(control(name, name, resolve(s, components), (root.required ?? []).includes(name), components));
  }
  return wrap;
}

function setAt(target, path, value) {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts.at(-1)] = value;
}

// The request body the form describes: empty fields are left out (the API's defaults apply).
export function readForm(form) {
  const body = {};
  for (const input of form.querySelectorAll("[data-path]")) {
    const raw = input.value.trim();
    if (raw === "") continue;
    const kind = input.dataset.kind;
    let value = raw;
    if (kind === "number") value = Number(raw);
    else if (kind === "boolean") value = raw === "true";
    else if (kind === "json") {
      try {
        value = JSON.parse(raw);
      } catch {
        throw Object.assign(new Error(`${input.dataset.path}: not valid JSON`), { field: input.dataset.path });
      }
    }
    setAt(body, input.dataset.path, value);
  }
  return body;
}

// Put an API message ("field: what is wrong") next to the field it names; false if none matches.
export function showFieldError(form, message) {
  for (const box of form.querySelectorAll(".field.invalid")) {
    box.classList.remove("invalid");
    box.querySelector(".field-error").textContent = "";
  }
  const match = /^([\w.[\]]+):\s/.exec(message);
  if (!match) return false;
  const path = match[1].replace(/\[\d+\]/g, "");
  let box = null;
  for (let p = path; p && !box; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") {
    box = form.querySelector(`.field[data-field="${CSS.escape(p)}"]`);
  }
  if (!box) return false;
  box.classList.add("invalid");
  box.querySelector(".field-error").textContent = message;
  box.querySelector("[data-path]")?.setAttribute("aria-invalid", "true");
  return true;
}
