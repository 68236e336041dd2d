/** Network checks sent from provctl's own machine (fetch, node:https, Deno.connect). */
import { BODY_LIMIT, type HttpOutcome, type TcpOutcome } from "./_remote.ts";
import type { HttpCheck, TcpCheck } from "./_types.ts";

/** Thrown when the caller's signal (not the check's time limit) stopped the check. */
function throwIfCallerAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/** A short reason from a fetch/connect error ("Connection refused (os error 111)"). */
function reasonOf(error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error && cause.message) text = cause.message;
  // "error sending request for url (https://...): client error (Connect): tcp connect error: X"
  text = text.replace(/^error sending request for url \([^)]*\):\s*/, "")
    .replace(/^client error \(Connect\):\s*/, "")
    .replace(/^tcp connect error:\s*/, "");
  return text.trim() || "unknown error";
}

const TLS_ERROR = /certificate|tls|ssl|handshake|UnknownIssuer|self[- ]signed/i;

export async function controllerHttp(
  check: HttpCheck,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<HttpOutcome> {
  if (check.tlsInsecure) return await insecureHttps(check, timeoutMs, signal);
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([deadline, signal]) : deadline;
  let client: Deno.HttpClient | undefined;
  try {
    if (check.caFile) {
      let pem: string;
      try {
        pem = await Deno.readTextFile(check.caFile);
      } catch (e) {
        return {
          kind: "failed",
          reason: `ca_file ${check.caFile}: ${reasonOf(e)}`,
          via: "fetch",
          tls: true,
        };
      }
      client = Deno.createHttpClient({ caCerts: [pem] });
    }
    const response = await fetch(check.url, {
      method: check.method,
      headers: check.headers,
      redirect: "manual",
      signal: combined,
      client,
    });
    const body = check.method === "HEAD" ? "" : await readLimited(response);
    if (check.method === "HEAD") await response.body?.cancel();
    return { kind: "response", status: response.status, body, via: "fetch" };
  } catch (error) {
    throwIfCallerAborted(signal);
    if (deadline.aborted) return { kind: "failed", reason: "", via: "fetch", timedOut: true };
    const reason = reasonOf(error);
    return { kind: "failed", reason, via: "fetch", tls: TLS_ERROR.test(reason) };
  } finally {
    client?.close();
  }
}

/** The first BODY_LIMIT bytes of the body as text; the rest is not downloaded. */
async function readLimited(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(concat(chunks).subarray(0, BODY_LIMIT));
}

/**
 * tls_insecure = true: fetch cannot skip certificate verification per request, so this
 * one case goes through node:https (loaded only here) with rejectUnauthorized off.
 */
async function insecureHttps(
  check: HttpCheck,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<HttpOutcome> {
  const https = await import("node:https");
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([deadline, signal]) : deadline;
  const via = "node-https";
  let onAbort = () => {};
  const outcome = await new Promise<HttpOutcome>((resolve) => {
    const request = https.request(check.url, {
      method: check.method,
      headers: { ...check.headers },
      rejectUnauthorized: false,
    }, (response) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      const finish = () =>
        resolve({
          kind: "response",
          status: response.statusCode ?? 0,
          body: new TextDecoder().decode(concat(chunks)).slice(0, BODY_LIMIT),
          via,
        });
      response.on("data", (chunk: Uint8Array) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= BODY_LIMIT) {
          response.destroy();
          finish();
        }
      });
      response.on("end", finish);
      response.on("error", finish);
    });
    onAbort = () => {
      request.destroy(new Error("aborted"));
      resolve({ kind: "failed", reason: "", via, timedOut: true });
    };
    combined.addEventListener("abort", onAbort, { once: true });
    request.on("error", (error) => {
      resolve(
        deadline.aborted
          ? { kind: "failed", reason: "", via, timedOut: true }
          : { kind: "failed", reason: reasonOf(error), via },
      );
    });
    request.end();
  });
  combined.removeEventListener("abort", onAbort);
  throwIfCallerAborted(signal);
  return outcome;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

export async function controllerTcp(
  check: TcpCheck,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TcpOutcome> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([deadline, signal]) : deadline;
  // Deno.connect wants an IPv6 literal without brackets.
  const hostname = check.host.replace(/^\[(.*)\]$/, "$1");
  try {
    const conn = await Deno.connect({ hostname, port: check.port, signal: combined });
    conn.close();
    return { kind: "connected", via: "connect" };
  } catch (error) {
    throwIfCallerAborted(signal);
    if (deadline.aborted) return { kind: "failed", reason: "", via: "connect", timedOut: true };
    return { kind: "failed", reason: reasonOf(error), via: "connect" };
  }
}
