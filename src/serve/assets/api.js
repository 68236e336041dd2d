// The dashboard's client of /api/v1: every request carries the operator's token as a
// Bearer header (never in a URL); the event stream is read with fetch(), since
// EventSource cannot send that header.

const API = "/api/v1";

/** A problem document (RFC 9457) answered by the API, or a network failure. */
export class ApiError extends Error {
  constructor(status, detail, hint) {
    super(detail);
    this.status = status;
    this.hint = hint ?? "";
  }
}

async function problemOf(res) {
  try {
    const p = await res.json();
    return new ApiError(res.status, p.detail ?? p.title ?? `HTTP ${res.status}`, p.hint);
  } catch {
    return new ApiError(res.status, `HTTP ${res.status} ${res.statusText}`);
  }
}

/** Path segments are encoded here, so a hostile name cannot change the route. */
export function path(...parts) {
  return parts.map((p) => encodeURIComponent(String(p))).join("/");
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) { for (const x of v) q.append(k, x); }
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export class Api {
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, route, body, signal) {
    const headers = { authorization: `Bearer ${this.token}`, accept: "application/json" };
    const init = { method, headers, signal, cache: "no-store" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + route, init);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError(0, String(error?.message ?? error));
    }
    if (!res.ok) {
      const error = await problemOf(res);
      if (res.status === 401) this.onUnauthorized?.(error);
      throw error;
    }
    if (res.status === 204) return null;
    const type = res.headers.get("content-type") ?? "";
    return type.includes("json") ? await res.json() : await res.text();
  }

  get(route, signal) {
    return this.request("GET", route, undefined, signal);
  }

  post(route, body = {}, signal) {
    return this.request("POST", route, body, signal);
  }

  /** Whether this token may act (its scope is operate or admin). */
  async canOperate() {
    const token = await this.get("/token");
    return token.scope === "operate" || token.scope === "admin";
  }

  /** Reads a streamed text response (followed logs) chunk by chunk until `signal`. */
  async stream(route, onText, signal) {
    const res = await fetch(API + route, {
      headers: { authorization: `Bearer ${this.token}` },
      signal,
      cache: "no-store",
    });
    if (!res.ok || !res.body) throw await problemOf(res);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        onText(value);
      }
    } finally {
      reader.releaseLock();
    }
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/** Parses one SSE block ("id:", "event:", "data:", "retry:" lines). */
export function parseSseBlock(block) {
  const out = { id: undefined, event: "message", data: [], retry: undefined };
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") out.id = value;
    else if (field === "event") out.event = value;
    else if (field === "data") out.data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) out.retry = Number(value);
  }
  return out;
}

/**
 * Follows /events until `signal` aborts: reconnects after the server's retry hint and
 * resumes with Last-Event-ID, so nothing published meanwhile is missed. `onState` gets
 * "connecting", "live", "reconnecting" or "unauthorized"; `onEvent` gets each event
 * ({ topic: "reset" } when the server no longer holds what was missed).
 */
export function followEvents({ token, onEvent, onState, signal }) {
  let lastId;
  let retry = 2000;
  (async () => {
    onState("connecting");
    while (!signal.aborted) {
      try {
        const headers = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
        if (lastId !== undefined) headers["last-event-id"] = lastId;
        const res = await fetch(`${API}/events`, { headers, signal, cache: "no-store" });
        if (res.status === 401) {
          onState("unauthorized");
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState("live");
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = parseSseBlock(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (block.retry !== undefined) retry = block.retry;
            if (block.id !== undefined) lastId = block.id;
            if (block.data.length === 0) continue;
            let event;
            try {
              event = JSON.parse(block.data.join("\n"));
            } catch {
              continue;
            }
            if (block.event === "reset") onEvent({ topic: "reset", data: event });
            else onEvent(event);
          }
        }
      } catch {
        if (signal.aborted) return;
      }
      if (signal.aborted) return;
      onState("reconnecting");
      await sleep(retry, signal);
    }
  })();
}
