// The console: hash-routed pages over the public API (account key) and the admin API (operator).

import { API, ApiError, call, credential, curlFor, signIn, signOut, stream } from "./api.js";
import { el, errorBox, when } from "./dom.js";
import { barChart } from "./chart.js";
import { libraryPage } from "./library.js";
import { buildForm, readForm, showFieldError } from "./schema_form.js";

const main = document.getElementById("main");
const STATUSES = ["submitted", "processing", "succeed", "failed"];
let openapi = null;
let pageAbort = null; // aborts the streams of the page being left

async function loadOpenapi() {
  if (!openapi) openapi = await (await fetch("/openapi.json")).json();
  return openapi;
}

// Families from the OpenAPI document: every /v1/<family> path that creates (POST with a request
// body) and lists (GET) — which leaves out the POST-only calls such as the selection calls — and
// every new-standard product, POST /<product>/{model} (family v2/<product>, the model in the path).
async function families() {
  const doc = await loadOpenapi();
  const found = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    const legacy = /^\/v1\/([\w-]+(?:\/[\w-]+)+)$/.exec(path);
    const product = /^\/([\w-]+)\/\{model\}$/.exec(path);
    const post = ops.post;
    if (!post?.requestBody || post.tags?.includes("admin")) continue;
    const schema = post.requestBody.content["application/json"].schema;
    const summary = post.summary.replace(/^Create: /, "");
    if (legacy && ops.get) found.push({ name: legacy[1], summary, schema });
    else if (product) found.push({ name: `v2/${product[1]}`, product: product[1], summary, schema });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

function statusBadge(status) {
  return el("span", { class: `status status-${status}`, "data-status": status }, status);
}

// Pages are async: a page left before it finished loading must not paint over the next one.
function render(signal, ...nodes) {
  if (!signal.aborted) main.replaceChildren(...nodes);
}

// ---- sign-in -----------------------------------------------------------------------------

function signInPage() {
  const signal = pageAbort.signal;
  const error = el("div");
  const token = el("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const role = el("select", { id: "role" },
    el("option", { value: "account" }, "Account (API key)"), el("option", { value: "operator" }, "Operator (admin token)"));
  const form = el("form", { "aria-label": "Sign in" },
    el("h1", {}, "Sign in"),
    el("p", { class: "hint" }, "The key stays in this tab's session storage: gone when the tab closes, never sent anywhere but this gateway's API."),
    el("div", { class: "field" }, el("label", { for: "role" }, "Sign in as"), role),
    el("div", { class: "field" }, el("label", { for: "token" }, "API key or admin token"), token),
    el("button", { class: "primary", type: "submit" }, "Sign in"), error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = token.value.trim();
    try {
      if (role.value === "operator") await call("GET", "/admin/v1/accounts", { token: value });
      else await call("GET", "/tasks/search?limit=1", { token: value });
    } catch (err) {
      error.replaceChildren(errorBox(err));
      return;
    }
    signIn(role.value, value);
    const target = role.value === "operator" ? "#/keys" : "#/tasks";
    if (location.hash === target) route();
    else location.hash = target; // hashchange routes
  });
  render(signal, form);
  token.focus();
}

// ---- tasks -------------------------------------------------------------------------------

async function tasksPage(params) {
  const signal = pageAbort.signal;
  const fams = await families();
  const select = (id, label, options, value) =>
    el("div", {}, el("label", { for: id }, label),
      el("select", { id, name: id }, el("option", { value: "" }, "any"),
        ...options.map((o) => el("option", { value: o, selected: o === value }, o))));
  const input = (id, label, type, value) =>
    el("div", {}, el("label", { for: id }, label), el("input", { id, name: id, type, value: value ?? "" }));
  const filters = el("form", { class: "row", "aria-label": "Filter tasks" },
    select("family", "Family", fams.filter((f) => !f.product).map((f) => f.name), params.get("family")),
    select("status", "Status", STATUSES, params.get("status")),
    input("model", "Model", "text", params.get("model")),
    input("q", "Prompt contains", "search", params.get("q")),
    input("external_task_id", "External task id", "text", params.get("external_task_id")),
    input("from", "Created from", "datetime-local", params.get("from")),
    input("to", "Created before", "datetime-local", params.get("to")),
    el("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(filters)) if (v) next.set(k, v);
    location.hash = "#/tasks?" + next;
  });
  const body = el("tbody");
  const table = el("div", { class: "table-wrap" }, el("table", { id: "task-table" },
    el("thead", {}, el("tr", {}, el("th", {}, "Task"), el("th", { class: "wide" }, "Family"), el("th", {}, "Status"),
      el("th", { class: "wide" }, "Prompt"), el("th", { class: "wide" }, "Created"))), body));
  const more = el("button", { type: "button", id: "more", hidden: true }, "Load more");
  const error = el("div");
  render(signal, el("h1", {}, "Tasks"), filters, error, table, more);

  const query = new URLSearchParams({ limit: "20" });
  for (const k of ["family", "status", "model", "q", "external_task_id"]) if (params.get(k)) query.set(k, params.get(k));
  if (params.get("from")) query.set("created_from", String(new Date(params.get("from")).getTime()));
  if (params.get("to")) query.set("created_to", String(new Date(params.get("to")).getTime()));
  async function page(cursor) {
    if (cursor) query.set("cursor", cursor);
    let data;
    try {
      data = await call("GET", "/tasks/search?" + query);
    } catch (err) {
      error.replaceChildren(errorBox(err));
      return;
    }
    for (const t of data.tasks) body.append(live.row(t));
    if (!data.tasks.length && !cursor) body.append(el("tr", { class: "empty" }, el("td", { colspan: "5" }, "No tasks match.")));
    more.hidden = !data.next_cursor;
    more.onclick = () => page(data.next_cursor);
  }
  const live = liveRows(body, signal);
  await page(null);
  // New tasks: the first page is asked again every few seconds and rows not yet shown go on top.
  const fresh = new URLSearchParams(query);
  fresh.delete("cursor");
  while (!signal.aborted) {
    await new Promise((ok) => setTimeout(ok, LIST_POLL_MS));
    if (signal.aborted) return;
    let data;
    try {
      data = await call("GET", "/tasks/search?" + fresh);
    } catch {
      continue; // a missed poll: the next one catches up
    }
    const added = data.tasks.filter((t) => !live.has(t.task_id)).map((t) => live.row(t));
    if (added.length) {
      body.querySelector("tr.empty")?.remove();
      body.prepend(...added);
    }
  }
}

const LIST_POLL_MS = 2000;
const MAX_STREAMS = 3; // a browser holds 6 HTTP/1.1 connections per origin: leave room for the API
const TERMINAL = new Set(["succeed", "failed"]);

// The task list's rows, live: each running task's status follows its event stream (at most
// MAX_STREAMS at once, the rest wait their turn); every status a row showed is kept in its
// data-seen attribute.
function liveRows(body, signal) {
  const rows = new Map();
  const waiting = [];
  let open = 0;
  function setStatus(tr, status) {
    tr.querySelector("[data-status]").replaceWith(statusBadge(status));
    const seen = tr.dataset.seen.split(" ");
    if (seen.at(-1) !== status) tr.dataset.seen = [...seen, status].join(" ");
  }
  function next() {
    while (open < MAX_STREAMS && waiting.length && !signal.aborted) {
      const t = waiting.shift();
      open += 1;
      stream(`/${t.family}/${t.task_id}/events`, (ev) => setStatus(rows.get(t.task_id), ev.event), signal)
        .catch(() => {}) // the row keeps its last status; the task page shows the error
        .finally(() => { open -= 1; next(); });
    }
  }
  return {
    has: (id) => rows.has(id),
    row(t) {
      const tr = el("tr", { "data-task-id": t.task_id, "data-seen": t.task_status },
        el("td", {}, el("a", { href: `#/task/${t.family}/${t.task_id}` }, t.task_id)),
        el("td", { class: "wide" }, t.family), el("td", {}, statusBadge(t.task_status)),
        el("td", { class: "wide" }, (t.prompt ?? "").slice(0, 80)), el("td", { class: "wide" }, when(t.created_at)));
      rows.set(t.task_id, tr);
      if (!TERMINAL.has(t.task_status)) {
        waiting.push(t);
        next();
      }
      return tr;
    },
  };
}

function mediaOf(result) {
  const nodes = [];
  for (const v of result?.videos ?? []) {
    nodes.push(el("figure", {}, el("video", { src: v.url, controls: true, preload: "metadata", "data-video-id": v.id, "aria-label": `video ${v.id}` }),
      el("figcaption", {}, `${v.duration} s · `, el("a", { href: v.url, download: "" }, "download"))));
  }
  for (const i of result?.images ?? []) {
    nodes.push(el("figure", {}, el("img", { src: i.url, alt: `image ${i.index}` }),
      el("figcaption", {}, el("a", { href: i.url, download: "" }, "download"))));
  }
  for (const a of result?.audios ?? []) {
    const url = a.url_mp3 ?? a.url ?? a.url_wav;
    if (!url) continue;
    nodes.push(el("figure", {}, el("audio", { src: url, controls: true, preload: "metadata", "aria-label": `audio ${a.id}` }),
      el("figcaption", {}, el("a", { href: url, download: "" }, "download"))));
  }
  return nodes;
}

async function taskPage(family, taskId) {
  const signal = pageAbort.signal;
  const path = `/${family}/${taskId}`;
  const head = el("div");
  const history = el("ol", { id: "history" });
  const media = el("div", { class: "media", id: "media" });
  const raw = el("pre", { id: "raw" });
  const error = el("div");
  render(signal, el("p", {}, el("a", { href: "#/tasks" }, "← Tasks")), el("h1", {}, `Task ${taskId}`), error, head,
    el("h2", {}, "Result"), media, el("h2", {}, "Status history"), history,
    el("h2", {}, "Raw JSON (GET " + API + path + ")"), raw,
    el("h2", {}, "curl"), el("pre", { id: "curl" }, curlFor("GET", path)));
  let shown = null;
  async function show() {
    let task;
    try {
      task = await call("GET", path);
    } catch (err) {
      error.replaceChildren(errorBox(err));
      return;
    }
    raw.textContent = JSON.stringify(task, null, 2);
    head.replaceChildren(el("div", { class: "card" },
      el("div", {}, "Family: ", family), el("div", {}, "Status: ", statusBadge(task.task_status)),
      task.task_status_msg ? el("div", { class: "error", id: "status-msg" }, task.task_status_msg) : null,
      task.final_unit_deduction ? el("div", {}, "Units: ", task.final_unit_deduction) : null,
      el("div", {}, "Created: ", when(task.created_at), " · updated: ", when(task.updated_at))));
    if (task.task_status !== shown) media.replaceChildren(...mediaOf(task.task_result));
    shown = task.task_status;
  }
  await show();
  // The event stream replays every status change and ends after the terminal one.
  stream(`${path}/events`, async (ev) => {
    history.append(el("li", { "data-status": ev.event }, `${ev.event} at ${when(ev.data.updated_at)}`));
    await show();
  }, signal).catch((err) => {
    if (err.name !== "AbortError") error.replaceChildren(errorBox(err instanceof ApiError ? err : new ApiError(0, 0, err.message)));
  });
}

// A new-standard task (family v2/<product>): read through GET /tasks?task_ids= (the new
// standard has no per-family query path nor event stream), every second until it ends.
const RECORD_POLL_MS = 1000;
const RECORD_TERMINAL = new Set(["succeeded", "failed"]);

function outputsOf(outputs) {
  return (outputs ?? []).map((o) => {
    if (o.type === "video") {
      return el("figure", {}, el("video", { src: o.url, controls: true, preload: "metadata", "aria-label": `video ${o.id ?? ""}` }),
        el("figcaption", {}, o.duration ? `${o.duration} s · ` : "", el("a", { href: o.url, download: "" }, "download")));
    }
    if (o.type === "image") return el("figure", {}, el("img", { src: o.url, alt: "image" }), el("figcaption", {}, el("a", { href: o.url, download: "" }, "download")));
    const url = o.mp3_url || o.wav_url || o.url;
    if (o.type === "audio" && url) return el("figure", {}, el("audio", { src: url, controls: true, preload: "metadata", "aria-label": "audio" }));
    return null;
  });
}

async function recordPage(family, id) {
  const signal = pageAbort.signal;
  const path = `/tasks?task_ids=${encodeURIComponent(id)}`;
  const head = el("div");
  const history = el("ol", { id: "history" });
  const media = el("div", { class: "media", id: "media" });
  const raw = el("pre", { id: "raw" });
  const error = el("div");
  render(signal, el("p", {}, el("a", { href: "#/tasks" }, "← Tasks")), el("h1", {}, `Task ${id}`), error, head,
    el("h2", {}, "Result"), media, el("h2", {}, "Status history"), history,
    el("h2", {}, `Raw JSON (GET ${path})`), raw, el("h2", {}, "curl"), el("pre", { id: "curl" }, curlFor("GET", path, undefined, true)));
  let shown = null;
  while (!signal.aborted) {
    let record;
    try {
      [record] = await call("GET", path, { root: true });
    } catch (err) {
      error.replaceChildren(errorBox(err));
      return;
    }
    if (signal.aborted) return;
    if (!record) {
      error.replaceChildren(errorBox(new ApiError(404, 1203, `task '${id}' not found`)));
      return;
    }
    raw.textContent = JSON.stringify(record, null, 2);
    if (record.status !== shown) {
      shown = record.status;
      history.append(el("li", { "data-status": record.status }, `${record.status} at ${when(record.update_time)}`));
      head.replaceChildren(el("div", { class: "card", id: "record" },
        el("div", {}, "Family: ", family), el("div", {}, "Status: ", statusBadge(record.status)),
        record.message ? el("div", { class: "error", id: "status-msg" }, record.message) : null,
        (record.billing ?? []).length ? el("div", {}, "Units: ", record.billing.map((b) => b.amount).join(" + ")) : null,
        el("div", {}, "Created: ", when(record.create_time), " · updated: ", when(record.update_time))));
      media.replaceChildren(...outputsOf(record.outputs).filter(Boolean));
    }
    if (RECORD_TERMINAL.has(record.status)) return;
    await new Promise((ok) => setTimeout(ok, RECORD_POLL_MS));
  }
}

// ---- playground --------------------------------------------------------------------------

// The models the catalogue serves for a family, as suggestions on the model_name field.
async function suggestModels(fields, family) {
  const input = fields.querySelector('[data-path="model_name"]');
  if (!input) return;
  let models;
  try {
    models = await call("GET", `/models?family=${encodeURIComponent(family)}&standard=legacy`);
  } catch {
    return; // a gateway without the catalogue: the field stays free text
  }
  const ids = models.map((m) => m.offers.find((o) => o.family === family)?.model_id ?? m.legacy_name ?? m.name);
  const list = el("datalist", { id: "models-" + family.replace("/", "-") }, ...ids.map((id) => el("option", { value: id })));
  input.setAttribute("list", list.id);
  input.after(list);
}

async function playgroundPage(params) {
  const signal = pageAbort.signal;
  const doc = await loadOpenapi();
  const fams = await families();
  const chosen = fams.find((f) => f.name === params.get("family")) ?? fams.find((f) => f.name === "videos/text2video") ?? fams[0];
  const picker = el("select", { id: "pg-family" }, ...fams.map((f) => el("option", { value: f.name, selected: f === chosen }, `${f.name} — ${f.summary}`)));
  picker.addEventListener("change", () => { location.hash = "#/playground?family=" + encodeURIComponent(picker.value); });
  const fields = buildForm(chosen.schema, doc.components.schemas);
  let model = null; // the new standard's model: a path segment, not a body field
  if (chosen.product) {
    model = el("select", { id: "pg-model", required: true });
    try {
      const models = await call("GET", `/models?family=${encodeURIComponent(chosen.name)}&standard=new`);
      model.append(...models.map((m) => el("option", { value: m.offers.find((o) => o.family === chosen.name)?.model_id ?? m.name }, m.name)));
    } catch { /* no catalogue: the select stays empty and the API names the problem */ }
    fields.prepend(el("div", { class: "field", "data-field": "model" }, el("label", { for: "pg-model" }, "model (in the path)"), model,
      el("div", { class: "field-error", role: "alert" })));
  } else {
    await suggestModels(fields, chosen.name);
  }
  const target = () => (chosen.product ? `/${chosen.product}/${model.value}` : `/${chosen.name}`);
  const error = el("div", { id: "pg-error" });
  const curl = el("pre", { id: "pg-curl" });
  const form = el("form", { id: "playground", "aria-label": `Create ${chosen.name}` }, fields,
    el("button", { class: "primary", type: "submit" }, "Submit"), error);
  form.addEventListener("input", () => {
    try { curl.textContent = curlFor("POST", target(), readForm(form), Boolean(chosen.product)); } catch { /* shown on submit */ }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.replaceChildren();
    let body;
    try {
      body = readForm(form);
    } catch (err) {
      showFieldError(form, err.message);
      return;
    }
    try {
      const created = await call("POST", target(), { body, root: Boolean(chosen.product) });
      location.hash = `#/task/${chosen.name}/${created.task_id ?? created.id}`;
    } catch (err) {
      showFieldError(form, err.message);
      error.replaceChildren(errorBox(err));
    }
  });
  render(signal, el("h1", {}, "Playground"), el("div", { class: "field" }, el("label", { for: "pg-family" }, "Family"), picker),
    form, el("h2", {}, "curl"), curl);
}

// ---- usage (the ledger's account API) ----------------------------------------------------

const DAY_MS = 86_400_000;
const RANGES = [7, 30, 90];

// YYYY-MM-DD of a time in this browser's time zone (the days the API grouped by).
function localDay(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function totals(rows, keyOf, field) {
  const sums = new Map();
  for (const r of rows) sums.set(keyOf(r), (sums.get(keyOf(r)) ?? 0) + r[field]);
  return [...sums].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([key, value]) => ({ key, label: key, value }));
}

function usageCharts(days, rows) {
  const perDay = (field) => days.map((day) => ({
    key: day, label: day.slice(5), value: rows.filter((r) => r.day === day).reduce((n, r) => n + r[field], 0) }));
  const modelOf = (r) => `${r.model_name} (${r.family})`;
  return el("div", { class: "charts" },
    barChart({ id: "chart-units-day", title: "Units per day", unit: "units", rows: perDay("units") }),
    barChart({ id: "chart-tasks-day", title: "Tasks per day", unit: "tasks", rows: perDay("tasks") }),
    barChart({ id: "chart-units-family", title: "Units by family", unit: "units", rows: totals(rows, (r) => r.family, "units"), horizontal: true }),
    barChart({ id: "chart-tasks-family", title: "Tasks by family", unit: "tasks", rows: totals(rows, (r) => r.family, "tasks"), horizontal: true }),
    barChart({ id: "chart-units-model", title: "Units by model", unit: "units", rows: totals(rows, modelOf, "units"), horizontal: true }),
    barChart({ id: "chart-tasks-model", title: "Tasks by model", unit: "tasks", rows: totals(rows, modelOf, "tasks"), horizontal: true }));
}

function packsTable(packs) {
  return el("div", { class: "table-wrap" }, el("table", { id: "packs" },
    el("thead", {}, el("tr", {}, ...["Pack", "Type", "Remaining", "Total", "", "Status", "Valid until"].map((h, i) => el("th", { class: [1, 4, 6].includes(i) ? "wide" : null }, h)))),
    el("tbody", {}, ...packs.map((p) => el("tr", { "data-pack-id": p.resource_pack_id },
      el("td", {}, p.resource_pack_name), el("td", { class: "wide" }, p.resource_pack_type),
      el("td", { class: "remaining" }, p.remaining_quantity), el("td", {}, p.total_quantity),
      el("td", { class: "wide" }, el("meter", { min: "0", max: String(p.total_quantity || 1), value: String(p.remaining_quantity),
        "aria-label": `${p.resource_pack_name}: ${p.remaining_quantity} of ${p.total_quantity} left` })),
      el("td", {}, p.status), el("td", { class: "wide" }, when(p.invalid_time)))))));
}

// One page for both roles: an account sees its own ledger and packs (the account API); the
// operator every account's ledger or one account's, and that account's packs (the admin API).
async function usagePage(params, operator = false) {
  const signal = pageAbort.signal;
  const span = RANGES.includes(Number(params.get("days"))) ? Number(params.get("days")) : 30;
  const chosen = operator ? params.get("account") ?? "" : "";
  const range = el("select", { id: "usage-range" }, ...RANGES.map((n) => el("option", { value: String(n), selected: n === span }, `last ${n} days`)));
  const who = operator ? el("select", { id: "usage-account" }, el("option", { value: "" }, "every account")) : null;
  const go = () => {
    const next = new URLSearchParams({ days: range.value });
    if (who?.value) next.set("account", who.value);
    location.hash = "#/usage?" + next;
  };
  range.addEventListener("change", go);
  who?.addEventListener("change", go);
  const charts = el("div", { id: "usage-charts" }, el("p", { class: "hint" }, "Loading…"));
  const box = el("div", { id: "usage" });
  render(signal, el("h1", {}, "Usage"), el("div", { class: "row" },
    el("div", {}, el("label", { for: "usage-range" }, "Period"), range),
    who ? el("div", {}, el("label", { for: "usage-account" }, "Account"), who) : null),
  charts, el("h2", {}, "Resource packs"), box);
  const end = Date.now();
  const first = new Date(end - (span - 1) * DAY_MS);
  first.setHours(0, 0, 0, 0);
  const start = first.getTime();
  const days = [];
  for (let t = start; localDay(t) <= localDay(end); t += DAY_MS) if (!days.includes(localDay(t))) days.push(localDay(t));
  const query = `start_time=${start}&end_time=${end}&utc_offset_minutes=${-new Date().getTimezoneOffset()}`;
  const usagePath = operator ? `/admin/v1/usage/daily?${query}${chosen ? "&account_id=" + encodeURIComponent(chosen) : ""}` : `/account/usage/daily?${query}`;
  const packsPath = operator ? (chosen ? `/admin/v1/accounts/${encodeURIComponent(chosen)}/packs` : null) : `/account/costs?start_time=${start}&end_time=${end}`;
  const [usage, packs, accounts] = await Promise.allSettled([
    call("GET", usagePath),
    packsPath ? call("GET", packsPath) : Promise.resolve(null),
    operator ? call("GET", "/admin/v1/accounts") : Promise.resolve([]),
  ]);
  if (signal.aborted) return;
  if (who && accounts.status === "fulfilled") {
    who.append(...accounts.value.map((a) => el("option", { value: a.account_id, selected: a.account_id === chosen }, `${a.name || "(no name)"} — ${a.account_id}`)));
  }
  const unavailable = (what, path) => el("p", { class: "notice", id: `${what}-unavailable` },
    `Not available on this gateway: it does not serve ${path.split("?")[0]}.`);
  if (usage.status === "fulfilled") {
    const rows = usage.value.days;
    const sum = (f) => rows.reduce((n, r) => n + r[f], 0);
    charts.replaceChildren(
      el("p", { id: "usage-summary" }, `${sum("tasks")} tasks (${sum("failed")} failed, refunded), ${+sum("units").toFixed(3)} units.`),
      usageCharts(days, rows));
  } else {
    charts.replaceChildren(usage.reason.status === 404 ? unavailable("usage", usagePath) : errorBox(usage.reason));
  }
  if (packs.status === "rejected") box.replaceChildren(packs.reason.status === 404 && !operator ? unavailable("packs", packsPath) : errorBox(packs.reason));
  else if (packs.value === null) box.replaceChildren(el("p", { class: "hint" }, "Choose an account to see its packs."));
  else box.replaceChildren(packsTable(operator ? packs.value : packs.value.resource_pack_subscribe_infos ?? []));
}

// ---- keys (operator) ---------------------------------------------------------------------

async function keysPage() {
  const signal = pageAbort.signal;
  const error = el("div");
  const issued = el("div", { id: "issued" });
  const body = el("tbody");
  const name = el("input", { id: "key-name", type: "text" });
  const limit = el("input", { id: "key-limit", type: "number", min: "1", step: "1" });
  const form = el("form", { class: "row", "aria-label": "Create a key" },
    el("div", {}, el("label", { for: "key-name" }, "Name"), name),
    el("div", {}, el("label", { for: "key-limit" }, "Max concurrent tasks"), limit),
    el("button", { class: "primary", type: "submit" }, "Create key"));
  render(signal, el("h1", {}, "Keys"), form, error, issued,
    el("div", { class: "table-wrap" }, el("table", { id: "key-table" }, el("thead", {}, el("tr", {},
      ...["Account", "Name", "Key", "Created", "State", ""].map((h) => el("th", {}, h)))), body)));
  async function refresh() {
    let keys;
    try {
      keys = await call("GET", "/admin/v1/accounts");
    } catch (err) {
      error.replaceChildren(errorBox(err));
      return;
    }
    body.replaceChildren(...keys.map((k) => el("tr", { "data-account-id": k.account_id },
      el("td", {}, k.account_id), el("td", {}, k.name), el("td", {}, k.api_key_prefix), el("td", {}, when(k.created_at)),
      el("td", { class: "state" }, k.revoked ? "revoked" : "active"),
      el("td", {}, k.revoked ? "" : el("button", { type: "button", "aria-label": `Revoke ${k.account_id}`, onclick: async () => {
        try { await call("POST", `/admin/v1/accounts/${k.account_id}/disable`); } catch (err) { error.replaceChildren(errorBox(err)); }
        await refresh();
      } }, "Revoke")))));
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.replaceChildren();
    try {
      const body = { name: name.value };
      if (limit.value) body.max_concurrent_tasks = Number(limit.value);
      const key = await call("POST", "/admin/v1/accounts", { body });
      issued.replaceChildren(el("div", { class: "card" }, el("strong", {}, "Shown once — copy it now: "),
        el("pre", { id: "issued-key" }, JSON.stringify(key, null, 2))));
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
    await refresh();
  });
  await refresh();
}

// ---- relay channels (operator) ----------------------------------------------------------

const CHANNEL_POLL_MS = 3000;

async function channelsPage() {
  const signal = pageAbort.signal;
  const error = el("div");
  const body = el("tbody");
  const stamp = el("p", { class: "hint", id: "channels-updated", "aria-live": "polite" });
  const cols = ["Channel", "Type", "Circuit", "Failures", "In flight", "Failovers", "Serves"];
  render(signal, el("h1", {}, "Relay channels"),
    el("p", { class: "hint" }, "Circuit and failovers as this gateway process sees them; in flight: tasks each channel holds upstream now."),
    error, stamp,
    el("div", { class: "table-wrap" }, el("table", { id: "channel-table" },
      el("thead", {}, el("tr", {}, ...cols.map((h) => el("th", { scope: "col" }, h)))), body)));
  while (!signal.aborted) {
    try {
      const { channels } = await call("GET", "/admin/v1/channels");
      if (signal.aborted) return;
      error.replaceChildren();
      body.replaceChildren(...(channels.length ? channels.map((c) => el("tr", { "data-channel": c.name, "data-circuit": c.circuit },
        el("th", { scope: "row" }, c.name), el("td", {}, c.type),
        el("td", {}, el("span", { class: `circuit circuit-${c.circuit}` }, c.circuit),
          c.available_in_seconds > 0 ? el("span", { class: "hint" }, ` (retry in ${Math.ceil(c.available_in_seconds)} s)`) : null),
        el("td", { class: "failures" }, `${c.consecutive_failures} / ${c.breaker_threshold}`),
        el("td", { class: "in-flight" }, c.max_concurrent ? `${c.in_flight} / ${c.max_concurrent}` : String(c.in_flight)),
        el("td", { class: "failovers", "data-total": c.failovers_total },
          String(c.failovers_total), c.failovers_total ? el("span", { class: "hint" },
            " (" + Object.entries(c.failovers).filter(([, n]) => n).map(([why, n]) => `${why} ${n}`).join(", ") + ")") : null),
        el("td", {}, `${c.families.join(", ")} · ${c.models.join(", ")}`)))
        : [el("tr", {}, el("td", { colspan: String(cols.length) }, "No relay channels: the reference engine serves every task."))]));
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
    await new Promise((ok) => setTimeout(ok, CHANNEL_POLL_MS));
  }
}

// ---- routing -----------------------------------------------------------------------------

async function route() {
  pageAbort?.abort();
  pageAbort = new AbortController();
  const cred = credential();
  const nav = document.getElementById("nav");
  nav.hidden = !cred;
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query ?? "");
  for (const a of nav.querySelectorAll("a")) {
    a.hidden = cred?.role !== a.dataset.role;
    a.toggleAttribute("aria-current", path.startsWith(a.getAttribute("href").slice(1)));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  if (!cred) return signInPage();
  const parts = path.split("/").filter(Boolean);
  try {
    if (cred.role === "operator") {
      if (parts[0] === "channels") return await channelsPage();
      if (parts[0] === "usage") return await usagePage(params, true);
      return await keysPage();
    }
    if (parts[0] === "task" && parts[1] === "v2" && parts.length === 4) return await recordPage(parts.slice(1, -1).join("/"), parts.at(-1));
    if (parts[0] === "task" && parts.length >= 4) return await taskPage(parts.slice(1, -1).join("/"), parts.at(-1));
    if (parts[0] === "playground") return await playgroundPage(params);
    if (parts[0] === "usage") return await usagePage(params);
    if (parts[0] === "elements") return await libraryPage("elements", pageAbort.signal, render);
    if (parts[0] === "voices") return await libraryPage("voices", pageAbort.signal, render);
    return await tasksPage(params);
  } catch (err) {
    render(pageAbort.signal, errorBox(err instanceof ApiError ? err : new ApiError(0, 0, String(err.message ?? err))));
  }
}

document.getElementById("signout").addEventListener("click", () => {
  signOut();
  location.hash = "";
  route();
});
// Dark or light: the system's choice (prefers-color-scheme) until the toggle picks one, which this
// browser remembers (localStorage holds only the theme, never a credential).
function applyTheme() {
  const chosen = localStorage.getItem("kling-gateway-theme");
  const dark = chosen ? chosen === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  document.getElementById("theme").setAttribute("aria-pressed", String(dark));
}
document.getElementById("theme").addEventListener("click", () => {
  localStorage.setItem("kling-gateway-theme", document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  applyTheme();
});
applyTheme();
window.addEventListener("hashchange", route);
route();
