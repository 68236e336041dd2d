/**
 * The HTTP API (/api/v1) on Hono: authentication and scopes, rate limits, body limits,
 * time limits and problem documents around the routes of _routes.ts.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { ProvctlContext, Writable } from "../cli/context.ts";
import type { FleetFlags } from "../cli/fleet_flags.ts";
import type { GlobalFlags } from "../cli/global_flags.ts";
import type { RemoteTargets } from "../cli/remote.ts";
import { Session } from "../cli/session.ts";
import {
  type Scope,
  scopeAllows,
  type TokenRecord,
  VerifyCache,
  verifySecret,
} from "../state/tokens.ts";
import { problem, problemOf, problemResponse } from "./problem.ts";
import { VERSION } from "../version.ts";
import { API, type ApiDeps, type ApiRequest, HttpProblem, json, type RouteSpec } from "./_http.ts";
import { apiRoutes } from "./_routes.ts";
import { Deadlines } from "./_deadlines.ts";

export type { ApiDeps, ApiLimits, ApiRequest, RouteSpec } from "./_http.ts";

const discard: Writable = { write() {} };

export function buildApi(
  deps: ApiDeps,
): { app: Hono; routes: readonly RouteSpec[]; close(): Promise<void> } {
  const messages = deps.settings.messages;
  const fail = (status: number, key: string, params: Record<string, string | number> = {}) =>
    new HttpProblem(problem(messages, status, key, params));
  const routes = apiRoutes(deps, fail);
  const app = new Hono();
  const buckets = new Map<string, { tokens: number; at: number }>();
  const verified = new VerifyCache();
  const deadlines = new Deadlines(deps.limits.requestTimeoutMs);

  // One SSH pool for all requests: connections to machines are reused between them.
  let remote: Promise<RemoteTargets> | undefined;
  const sharedRemote = () =>
    remote ??= import("../cli/remote.ts").then(({ RemoteTargets }) =>
      new RemoteTargets(
        serverContext(deps),
        deps.settings,
        deps.settings.config.path("paths.state_dir"),
        {
          security: (key, params) => deps.log(`provctl serve: ${messages.format(key, params)}`),
          note: (key, params) => deps.log(`provctl serve: ${messages.format(key, params)}`),
          retry: () => {},
        },
        {
          // With shared state, the servers' breakers are the database's.
          breakers: async () =>
            deps.state
              ? (await import("../state/select.ts")).sharedBreakers(deps.state)
              : undefined,
        },
      )
    );

  // Mutating operations and their records report who acted through the operator.
  const sessionFor = (
    token: TokenRecord | undefined,
    op: string,
    flags: Partial<GlobalFlags & FleetFlags> = {},
    onNote?: ProvctlContext["onNote"],
  ): Session => {
    const ctx: ProvctlContext = {
      process: { stdout: discard, stderr: discard, env: deps.env },
      stdoutIsTty: false,
      stderrIsTty: false,
      stdinIsTty: false,
      cwd: deps.cwd,
      argv: [op],
      operator: token?.name,
      onNote,
      state: deps.state,
    };
    return new Session(
      ctx,
      {
        ...deps.baseFlags,
        output: "json",
        quiet: true,
        ...flags,
      },
      deps.settings,
      sharedRemote,
    );
  };

  const authenticate = async (c: Context, needed: Scope): Promise<TokenRecord> => {
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    const verdict = await verifySecret(await deps.tokens.list(), m?.[1], new Date(), verified);
    const challenge = { "www-authenticate": 'Bearer realm="provctl"' };
    if (!verdict.ok) {
      if (verdict.reason === "expired") {
        // Only the holder of the secret learns that (and which) token expired.
        throw new HttpProblem(
          problem(messages, 401, "serve.token_expired", { name: verdict.name }),
          challenge,
        );
      }
      throw new HttpProblem(
        problem(messages, 401, "serve.unauthorized", {}, "serve.unauthorized_hint"),
        challenge,
      );
    }
    if (!scopeAllows(verdict.token.scope, needed)) {
      throw fail(403, "serve.forbidden", {
        name: verdict.token.name,
        scope: verdict.token.scope,
        needed,
      });
    }
    return verdict.token;
  };

  const rateLimit = (token: TokenRecord) => {
    const perMinute = deps.limits.ratePerMinute;
    if (perMinute <= 0) return;
    const now = Date.now();
    const b = buckets.get(token.name) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * perMinute / 60_000);
    b.at = now;
    buckets.set(token.name, b);
    if (b.tokens < 1) {
      const retry = Math.ceil((1 - b.tokens) * 60 / perMinute);
      throw new HttpProblem(
        problem(messages, 429, "serve.rate_limited", { name: token.name, limit: perMinute }),
        { "retry-after": String(Math.max(1, retry)) },
      );
    }
    b.tokens -= 1;
  };

  const readBody = async (c: Context): Promise<Record<string, unknown>> => {
    const length = c.req.header("content-length");
    const limit = deps.limits.bodyBytes;
    if (length !== undefined && Number(length) > limit) {
      throw fail(413, "serve.too_large", { limit });
    }
    const raw = c.req.raw.body;
    if (!raw) return {};
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of raw) {
      size += chunk.length;
      if (size > limit) throw fail(413, "serve.too_large", { limit });
      chunks.push(chunk);
    }
    if (size === 0) return {};
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      throw fail(415, "serve.unsupported_type", { type: type || "none" });
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (error) {
      throw fail(400, "serve.malformed_json", {
        reason: error instanceof Error ? error.message : String(error),
      });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw fail(400, "serve.invalid_body", { reason: "expected a JSON object" });
    }
    return value as Record<string, unknown>;
  };

  const toResponse = (error: unknown, c: Context): Response => {
    if (error instanceof HttpProblem) {
      return problemResponse({ ...error.problem, instance: c.req.path }, error.headers);
    }
    const p = problemOf(messages, error);
    if (p) return problemResponse({ ...p, instance: c.req.path });
    if (isOsError(error)) {
      return problemResponse({
        ...problem(messages, 500, "errors.os_error", { detail: (error as Error).message }),
        instance: c.req.path,
      });
    }
    const id = crypto.randomUUID().slice(0, 8);
    deps.log(
      `provctl serve: internal error ${id} on ${c.req.method} ${c.req.path}: ${
        error instanceof Error ? error.stack : String(error)
      }`,
    );
    return problemResponse({
      ...problem(messages, 500, "serve.internal", { id }),
      instance: c.req.path,
    });
  };

  for (const route of routes) {
    const honoPath = API + route.path.replace(/\{(\w+)\}/g, ":$1");
    app.on(route.method, honoPath, async (c) => {
      try {
        const token = route.scope === "public" ? undefined : await authenticate(c, route.scope);
        if (token) rateLimit(token);
        if (deps.closing.aborted && route.method !== "GET") {
          throw fail(503, "serve.shutting_down_problem");
        }
        let bodyPromise: Promise<Record<string, unknown>> | undefined;
        const req: ApiRequest = {
          c,
          token,
          param: (name) => c.req.param(name) ?? "",
          query: (name) => c.req.query(name),
          queries: (name) => c.req.queries(name) ?? [],
          body: () => (bodyPromise ??= readBody(c)),
          session: (op, flags, onNote) => sessionFor(token, op, flags, onNote),
        };
        if (route.stream) {
          const res = await route.handler(req);
          // HEAD runs the GET route, and the body it answers is dropped unread: end what
          // the stream started (a followed log's tail, an event subscription) at once.
          if (c.req.method === "HEAD") await res.body?.cancel();
          return res;
        }
        // The body is read (its limits enforced) even when the route ignores it, and
        // within the time limit: a client sending slowly cannot hold a request open.
        const handled = route.method === "GET" ? route.handler(req) : (async () => {
          await req.body();
          return await route.handler(req);
        })();
        return await deadlines.race(
          handled,
          () => fail(504, "serve.timeout", { ms: deps.limits.requestTimeoutMs }),
        );
      } catch (error) {
        return toResponse(error, c);
      }
    });
  }
  // /healthz at the root too, where probes look for it.
  app.get("/healthz", () => json({ status: "ok", version: VERSION }));

  app.notFound((c) => {
    const path = c.req.path;
    const allowed = routes.filter((r) => matches(API + r.path, path)).map((r) => r.method);
    if (allowed.length > 0) {
      const methods = [...new Set([...allowed, ...(allowed.includes("GET") ? ["HEAD"] : [])])];
      return problemResponse({
        ...problem(messages, 405, "serve.method_not_allowed", {
          method: c.req.method,
          path,
          allowed: methods.join(", "),
        }),
        instance: path,
      }, { allow: methods.join(", ") });
    }
    return problemResponse({
      ...problem(messages, 404, "serve.not_found", { path }),
      instance: path,
    });
  });
  app.onError((error, c) => toResponse(error, c));
  return {
    app,
    routes,
    async close() {
      await (await remote)?.close();
    },
  };
}

function serverContext(deps: ApiDeps): ProvctlContext {
  return {
    process: { stdout: discard, stderr: discard, env: deps.env },
    stdoutIsTty: false,
    stderrIsTty: false,
    stdinIsTty: false,
    cwd: deps.cwd,
    argv: ["serve"],
  };
}

function matches(template: string, path: string): boolean {
  const pattern = template.split("/").map((part) =>
    /^\{\w+\}$/.test(part) ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  ).join("/");
  return new RegExp(`^${pattern}/?$`).test(path);
}

function isOsError(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied ||
    (error instanceof Error && /\(os error \d+\)/.test(error.message));
}
