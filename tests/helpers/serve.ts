/**
 * A real `provctl serve` process on loopback for tests, and a client that checks every
 * response it receives against the server's own /api/v1/openapi.json (ajv, JSON Schema
 * 2020-12 as OpenAPI 3.1 uses).
 */
import assert from "node:assert/strict";
import Ajv2020 from "ajv/dist/2020.js";

export interface RunningServer {
  readonly url: string;
  readonly proc: Deno.ChildProcess;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** Starts `spawn(["serve", "--listen", "127.0.0.1:0", ...args])` and waits until it listens. */
export async function startServer(
  spawn: (args: string[]) => Deno.ChildProcess,
  args: string[] = [],
): Promise<RunningServer> {
  const proc = spawn(["serve", "--listen", "127.0.0.1:0", ...args]);
  let text = "";
  const decoder = new TextDecoder();
  const reader = proc.stderr.getReader();
  let url: string | undefined;
  const deadline = Date.now() + 30_000;
  while (url === undefined) {
    if (Date.now() > deadline) throw new Error(`serve did not start:\n${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited before listening:\n${text}`);
    text += decoder.decode(value, { stream: true });
    url = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
  }
  // Keep draining stderr so the server never blocks on a full pipe.
  const drained = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  })();
  proc.stdout.cancel().catch(() => {});
  return {
    url,
    proc,
    stderr: () => text,
    async stop(signal = "SIGTERM") {
      try {
        proc.kill(signal);
      } catch { /* already gone */ }
      const status = await proc.status;
      await drained;
      return status.code;
    },
  };
}

type Json = Record<string, unknown>;

/** Validates responses against the OpenAPI document of the server. */
export class OpenApiChecker {
  readonly doc: Json;
  readonly #ajv: InstanceType<typeof Ajv2020.default>;
  readonly checked = new Set<string>();
  // deno-lint-ignore no-explicit-any
  readonly #compiled = new Map<string, any>();

  private constructor(doc: Json) {
    this.doc = doc;
    const Ajv = Ajv2020 as unknown as typeof Ajv2020.default;
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    this.#ajv.addSchema({ $id: "openapi", components: doc.components });
  }

  static async load(url: string): Promise<OpenApiChecker> {
    const res = await fetch(`${url}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.equal(doc.openapi, "3.1.0");
    return new OpenApiChecker(doc);
  }

  /** Asserts that `value` is a valid `name` of components.schemas. */
  validate(name: string, value: unknown): void {
    const validate = this.#ajv.getSchema(`openapi#/components/schemas/${name}`);
    assert.ok(validate, name);
    if (!validate(value)) {
      assert.fail(
        `not a valid ${name}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(value)}`,
      );
    }
  }

  /** The path template of the document that `path` (under /api/v1) matches. */
  template(path: string): string | undefined {
    const paths = Object.keys(this.doc.paths as Json);
    // Literal segments win over parameters (/machines/check before /machines/{name}).
    const score = (t: string) => t.split("/").filter((p) => !p.startsWith("{")).length;
    return paths.sort((a, b) => score(b) - score(a)).find((t) =>
      new RegExp(`^${t.replace(/\{\w+\}/g, "[^/]+")}$`).test(path)
    );
  }

  /** Asserts that the response matches its documented status, content type and schema. */
  check(method: string, path: string, status: number, type: string | null, body: unknown): void {
    const plain = path.split("?")[0].replace(/^\/api\/v1/, "");
    const template = this.template(plain);
    assert.ok(template, `${method} ${plain} is not in openapi.json`);
    const operation = (this.doc.paths as Record<string, Json>)[template][method.toLowerCase()] as
      | Json
      | undefined;
    if (!operation && status === 405) {
      this.validate("Problem", body);
      return;
    }
    assert.ok(operation, `${method} ${template} is not in openapi.json`);
    const responses = operation.responses as Record<string, Json>;
    let response = responses[String(status)];
    if (!response && status === 405) response = { $ref: "#/components/responses/P405" };
    if (!response && status === 503) response = { $ref: "#/components/responses/P503" };
    if (!response && status === 504) response = { $ref: "#/components/responses/P504" };
    assert.ok(response, `${method} ${template}: status ${status} is not documented`);
    if (typeof response.$ref === "string") {
      const name = (response.$ref as string).split("/").pop()!;
      response = ((this.doc.components as Json).responses as Record<string, Json>)[name];
    }
    const content = response.content as Record<string, Json> | undefined;
    if (!content) {
      assert.equal(body, null, `${method} ${template} ${status} documents no body`);
      return;
    }
    if (body === null && type === null) assert.fail(`${method} ${template} ${status}: no body`);
    const mediaType = (type ?? "").split(";")[0].trim();
    assert.ok(content[mediaType], `${method} ${template} ${status}: undocumented ${type}`);
    if (!mediaType.includes("json")) return;
    const schema = content[mediaType].schema as Json;
    const key = JSON.stringify(schema);
    let validate = this.#compiled.get(key);
    if (!validate) {
      validate = this.#ajv.compile(rewrite(schema));
      this.#compiled.set(key, validate);
    }
    if (!validate(body)) {
      assert.fail(
        `${method} ${path} ${status} does not match its schema: ${
          JSON.stringify(validate.errors, null, 1)
        }\n${JSON.stringify(body).slice(0, 2000)}`,
      );
    }
    this.checked.add(`${method} ${template} ${status}`);
  }
}

/** "#/components/..." refs of a response schema point into the "openapi" schema. */
function rewrite(schema: Json): Json {
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'),
  );
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

/** fetch + schema check of every answer. */
export function apiClient(url: string, checker: OpenApiChecker) {
  return async function api(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; raw?: string; type?: string } = {},
  ): Promise<ApiResponse> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers["content-type"] = options.type ?? "application/json";
    const res = await fetch(`${url}/api/v1${path}`, { method, headers, body });
    const text = await res.text();
    const type = res.headers.get("content-type");
    const parsed = type?.includes("json") && text !== "" ? JSON.parse(text) : null;
    checker.check(method, path, res.status, type, parsed ?? (text || null));
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
}

/** Runs curl; returns the status, headers and body. */
export async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const nl = text.lastIndexOf("\n");
  return { status: Number(text.slice(nl + 1)), body: text.slice(0, nl) };
}

export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

/** Reads SSE frames from a fetch body until `until` says stop (then cancels the body). */
export async function readEvents(
  res: Response,
  until: (events: SseEvent[]) => boolean,
  timeoutMs = 15_000,
): Promise<SseEvent[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = "";
  const timer = setTimeout(() => reader.cancel(), timeoutMs);
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = {};
        for (const line of frame.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, "");
          if (field === "id" || field === "event" || field === "data") event[field] = value;
        }
        if (event.data !== undefined || event.event !== undefined) events.push(event);
      }
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return events;
}

/** `provctl token create NAME --scope SCOPE [MORE...]` in `cli`'s sandbox: the secret. */
export async function createToken(
  cli: { run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> },
  name: string,
  scope: string,
  ...more: string[]
): Promise<string> {
  const out = await cli.run(["token", "create", name, "--scope", scope, ...more]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.trim();
}
