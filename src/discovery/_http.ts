/**
 * HTTP for provider APIs: every request has a timeout, 429 and 5xx answers and network
 * errors are retried (honouring Retry-After, else exponential backoff with jitter), and
 * 401/403 become one clear AuthFailed line naming the token's variable. The token never
 * appears in an error: provider messages are cut, stripped of control characters, and
 * the secret is masked should a provider echo it.
 */
import { ProvctlError } from "../core/errors.ts";

export interface ApiClientOptions {
  /** The source name and provider, for messages. */
  readonly source: string;
  readonly provider: string;
  /** Where the credential came from (an environment variable or file), for 401/403. */
  readonly variable: string;
  /** Secrets masked out of any provider text shown. */
  readonly secrets: readonly string[];
  /** Per request (default 15 s). */
  readonly timeoutMs?: number;
  /** Retries after the first attempt (default 3). */
  readonly retries?: number;
  /** Longest wait honoured from Retry-After or backoff (default 30 s). */
  readonly maxDelayMs?: number;
  /** Called before each retry (for -v). */
  readonly onRetry?: (
    info: { url: string; status: string; attempt: number; delayMs: number },
  ) => void;
  /** Cancels everything (the source's overall deadline). */
  readonly signal?: AbortSignal;
  /** Largest answer read (default 64 MiB): a broken or hostile API cannot exhaust memory. */
  readonly maxBytes?: number;
}

const DETAIL_MAX = 200;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export class ApiClient {
  readonly options: ApiClientOptions;
  /** Requests sent (retries included), for reports and tests. */
  requests = 0;

  constructor(options: ApiClientOptions) {
    this.options = options;
  }

  /** GET (or `init`) `url` and parse the JSON answer. */
  async json<T = unknown>(url: string, init: RequestInit = {}): Promise<T> {
    const { text } = await this.send(url, init);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw this.#error("discovery.bad_response", url, { detail: "not JSON" });
    }
  }

  /**
   * Sends the request (built anew for every attempt by `build`, so a signature can carry
   * a fresh date), retrying as described above; returns the 2xx answer's text.
   */
  async send(
    url: string,
    init: RequestInit | (() => Promise<Request>),
  ): Promise<{ status: number; text: string; headers: Headers }> {
    const retries = this.options.retries ?? 3;
    for (let attempt = 0;; attempt++) {
      let delayMs: number;
      let status: string;
      try {
        const response = await this.#attempt(url, init);
        const text = await this.#read(url, response);
        if (response.ok) return { status: response.status, text, headers: response.headers };
        if (response.status === 401 || response.status === 403) {
          throw this.#authError(url, response.status, text);
        }
        if (response.status !== 429 && response.status < 500) {
          throw this.#error("discovery.http_error", url, {
            status: response.status,
            detail: this.detail(text),
          });
        }
        status = `HTTP ${response.status}`;
        if (attempt >= retries) {
          throw this.#error("discovery.http_error", url, {
            status: response.status,
            detail: this.detail(text),
          });
        }
        delayMs = retryAfter(response.headers.get("retry-after")) ?? backoff(attempt);
      } catch (error) {
        if (error instanceof ProvctlError) throw error;
        if (this.options.signal?.aborted) {
          // The source's deadline: its own error, whichever request it interrupted.
          if (this.options.signal.reason instanceof ProvctlError) throw this.options.signal.reason;
          throw this.#error("discovery.timeout", url, {
            seconds: Math.round((this.options.timeoutMs ?? 15_000) / 1000),
          }, "Timeout");
        }
        const timedOut = error instanceof DOMException && error.name === "TimeoutError";
        status = timedOut ? "timeout" : describe(error);
        if (attempt >= retries) {
          if (timedOut) {
            throw this.#error("discovery.timeout", url, {
              seconds: Math.round((this.options.timeoutMs ?? 15_000) / 1000),
            }, "Timeout");
          }
          throw this.#error("discovery.unreachable", url, { detail: status }, "ConnectionFailed");
        }
        delayMs = backoff(attempt);
      }
      delayMs = Math.min(delayMs, this.options.maxDelayMs ?? 30_000);
      this.options.onRetry?.({ url: safeUrl(url), status, attempt: attempt + 1, delayMs });
      await sleep(delayMs, this.options.signal);
    }
  }

  async #attempt(url: string, init: RequestInit | (() => Promise<Request>)): Promise<Response> {
    this.requests++;
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 15_000);
    const signal = this.options.signal ? AbortSignal.any([timeout, this.options.signal]) : timeout;
    if (typeof init === "function") {
      const request = await init();
      return await fetch(request, { signal, redirect: "error" });
    }
    return await fetch(url, { ...init, signal, redirect: "error" });
  }

  async #read(url: string, response: Response): Promise<string> {
    const max = this.options.maxBytes ?? 64 * 1024 * 1024;
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (declared > max || !response.body) {
      await response.body?.cancel();
      if (declared > max) throw this.#error("discovery.response_too_large", url, { max });
      return "";
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of response.body) {
      total += chunk.length;
      if (total > max) throw this.#error("discovery.response_too_large", url, { max });
      chunks.push(chunk);
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  }

  /** Provider text fit for one line: no control characters, short, secrets masked. */
  detail(text: string): string {
    let out = providerMessage(text);
    for (const secret of this.options.secrets) {
      if (secret.length >= 4) out = out.split(secret).join("***");
    }
    out = out.replace(CONTROL, " ").replace(/\s+/g, " ").trim();
    return out.length > DETAIL_MAX ? `${out.slice(0, DETAIL_MAX)}...` : out || "(empty)";
  }

  #authError(url: string, status: number, text: string): ProvctlError {
    return new ProvctlError(
      "AuthFailed",
      status === 401 ? "discovery.unauthorized" : "discovery.forbidden",
      {
        params: {
          source: this.options.source,
          provider: this.options.provider,
          variable: this.options.variable,
          status,
          url: safeUrl(url),
          detail: this.detail(text),
        },
        hint: status === 401
          ? "discovery.unauthorized_hint"
          : `discovery.forbidden_hint_${this.options.provider}`,
      },
    );
  }

  #error(
    key: string,
    url: string,
    params: Record<string, string | number>,
    kind: "CommandFailed" | "Timeout" | "ConnectionFailed" = "CommandFailed",
  ): ProvctlError {
    return new ProvctlError(kind, key, {
      params: {
        source: this.options.source,
        provider: this.options.provider,
        url: safeUrl(url),
        ...params,
      },
    });
  }
}

/**
 * The message in a provider's error body: JSON `message`/`error_message`/`reason`/`error`
 * (Hetzner, DigitalOcean, Linode, Vultr, UpCloud) or EC2's XML <Code> and <Message>.
 */
function providerMessage(text: string): string {
  try {
    const found: string[] = [];
    const walk = (value: unknown, depth: number) => {
      if (depth > 4 || found.length > 0 || value === null || typeof value !== "object") return;
      for (const key of ["message", "error_message", "reason", "error"]) {
        const v = (value as Record<string, unknown>)[key];
        if (typeof v === "string" && v !== "") {
          found.push(v);
          return;
        }
      }
      for (const v of Object.values(value as Record<string, unknown>)) walk(v, depth + 1);
    };
    walk(JSON.parse(text), 0);
    if (found.length > 0) return found[0];
  } catch {
    // not JSON
  }
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  if (code !== undefined || message !== undefined) {
    return [code, message].filter((p) => p !== undefined).join(": ");
  }
  return text;
}

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or garbled. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function backoff(attempt: number): number {
  const base = 250 * 2 ** attempt;
  return base + Math.random() * base;
}

/** The URL without its query (cursors and filters can be long) and without userinfo. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const text = cause instanceof Error ? cause.message : error.message;
    return text.replace(CONTROL, " ").slice(0, DETAIL_MAX);
  }
  return String(error).slice(0, DETAIL_MAX);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
