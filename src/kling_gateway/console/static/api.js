// The console's only way to the gateway: same-origin fetch with the credential the user typed.
// The credential lives in sessionStorage: it survives a reload of this tab but not closing it,
// is not shared with other tabs, and is never put in a URL (so never in a server log or history).

const STORE_KEY = "kling-gateway-console";

export const API = "/v1";

export function credential() {
  const raw = sessionStorage.getItem(STORE_KEY);
  return raw ? JSON.parse(raw) : null;
}

export function signIn(role, token) {
  sessionStorage.setItem(STORE_KEY, JSON.stringify({ role, token }));
}

export function signOut() {
  sessionStorage.removeItem(STORE_KEY);
}

// An error answered in the Kling envelope (or a network failure, code 0).
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

function headers(extra, token) {
  const cred = token ?? credential()?.token;
  return { ...(cred ? { Authorization: `Bearer ${cred}` } : {}), ...extra };
}

// The Kling routes live under /v1; Kling's account API (/account/...) and the operator's admin
// API (/admin/v1/...) at the root.
// The new standard's routes (POST /text-to-video/{model}, GET /tasks) live at the root too: root.
function urlOf(path, root) {
  return root || /^\/(admin|account)\//.test(path) ? path : API + path;
}

export async function call(method, path, { body, token, extraHeaders, root } = {}) {
  let response;
  try {
    response = await fetch(urlOf(path, root), {
      method,
      headers: headers(body === undefined ? extraHeaders : { "Content-Type": "application/json", ...extraHeaders }, token),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 0, `the gateway could not be reached: ${err.message}`, null);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    throw new ApiError(response.status, 0, `HTTP ${response.status} without a JSON body`, null);
  }
  if (!response.ok || payload.code !== 0) {
    throw new ApiError(response.status, payload.code ?? 0, payload.message ?? "error", payload.request_id ?? null);
  }
  return payload.data;
}

// Server-Sent Events through fetch (EventSource cannot send Authorization): calls onEvent with
// {id, event, data} per event until the stream ends or signal aborts.
export async function stream(path, onEvent, signal) {
  const response = await fetch(API + path, { headers: headers({ Accept: "text/event-stream" }), signal });
  if (!response.ok) {
    const payload = await response.json().catch(() => ({}));
    throw new ApiError(response.status, payload.code ?? 0, payload.message ?? `HTTP ${response.status}`, payload.request_id ?? null);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { id: null, event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "data") event.data += (event.data ? "\n" : "") + text;
        else if (name === "id" || name === "event") event[name] = text;
      }
      if (event.data) onEvent({ ...event, data: JSON.parse(event.data) });
    }
  }
}

// The copyable curl for a call, with the key as a shell variable (never the key itself).
export function curlFor(method, path, body, root = false) {
  const url = `${location.origin}${root ? "" : API}${path}`;
  let text = `curl -sS -X ${method} '${url}' -H "Authorization: Bearer $KLING_API_KEY"`;
  if (body !== undefined) {
    text += ` -H 'Content-Type: application/json' -d '${JSON.stringify(body).replaceAll("'", "'\\''")}'`;
  }
  return text;
}
