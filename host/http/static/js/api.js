// The host's API as the page uses it: the token (asked once, kept for the tab in
// sessionStorage) sent as a bearer header, JSON in and out, and server-sent events read from a
// fetch body (the header carries the token there too: no token in URLs or server logs).

const KEY = "agenthost.token";

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (value) => sessionStorage.setItem(KEY, value.trim()),
  clear: () => sessionStorage.removeItem(KEY),
};

const listeners = new Set();
/** `fn()` is called when the host refuses the token (the page asks for it again). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${token.get()}`, ...extra };
}

async function failure(response) {
  if (response.status === 401) {
    listeners.forEach((fn) => fn());
    return new Unauthorized("the host refused the token");
  }
  let message = `${response.status} ${response.statusText}`;
  let code;
  try {
    const body = await response.json();
    message = body.error?.message || body.detail || message;
    code = body.error?.code;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(response.status, message, code);
}

/** GET (or `method` with a JSON `body`) `path`; the parsed JSON answer. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? {} : response.json();
}

/**
 * Read the server-sent events of `path` (POST with a JSON `body`, else GET), calling
 * `onEvent(type, data)` for each (data parsed as JSON when it is); resolves when the stream
 * ends, rejects on an error answer. Abort it with `signal`.
 */
export async function stream(path, onEvent, { body, signal } = {}) {
  const init = { signal, headers: headers({ Accept: "text/event-stream" }) };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end + 2);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(block, onEvent) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a comment: keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  const text = data.join("\n");
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* plain text data */
  }
  onEvent(type, parsed);
}
