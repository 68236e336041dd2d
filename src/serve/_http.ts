/**
 * What the API's parts share: its dependencies, the shape of a route and of a request,
 * and the error that becomes a problem-document answer.
 */
import type { Context } from "hono";
import type { ProvctlContext } from "../cli/context.ts";
import type { FleetFlags } from "../cli/fleet_flags.ts";
import type { GlobalFlags } from "../cli/global_flags.ts";
import type { Session } from "../cli/session.ts";
import type { Settings } from "../cli/settings.ts";
import type { Scope, TokenRecord, TokenStore } from "../state/tokens.ts";
import type { OperationStore } from "../state/operations.ts";
import type { StateBackend } from "../state/backend.ts";
import type { EventHub } from "./events.ts";
import type { Problem } from "./problem.ts";

export interface ApiLimits {
  readonly bodyBytes: number;
  /** Requests per minute per token; 0 = unlimited. */
  readonly ratePerMinute: number;
  readonly requestTimeoutMs: number;
  readonly heartbeatMs: number;
}

export interface ApiDeps {
  readonly settings: Settings;
  /** The serve command's own flags (inventory, services file, SSH options...). */
  readonly baseFlags: GlobalFlags & FleetFlags;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly tokens: TokenStore;
  readonly operations: OperationStore;
  /** The state backend every request's session shares. */
  readonly state?: StateBackend;
  readonly hub: EventHub;
  readonly limits: ApiLimits;
  readonly metricsPublic: boolean;
  /** Aborted when the server starts shutting down (streams end, no new operations). */
  readonly closing: AbortSignal;
  /** Aborted when running operations must stop (after the shutdown grace time). */
  readonly cancel: AbortSignal;
  /** Running background operations (awaited on shutdown). */
  readonly running: Set<Promise<unknown>>;
  /** Server log (stderr). */
  readonly log: (line: string) => void;
}

/** A route: method, path (OpenAPI style), who may call it, and what it does. */
export interface RouteSpec {
  readonly method: "GET" | "POST" | "DELETE";
  readonly path: string;
  /** "public": no token. */
  readonly scope: Scope | "public";
  /** The response never finishes by itself (SSE, followed logs): no request timeout. */
  readonly stream?: boolean;
  readonly handler: (req: ApiRequest) => Promise<Response>;
}

export interface ApiRequest {
  readonly c: Context;
  readonly token?: TokenRecord;
  param(name: string): string;
  query(name: string): string | undefined;
  queries(name: string): string[];
  /** The JSON body (an object), {} when there is none. */
  body(): Promise<Record<string, unknown>>;
  /** A Session acting for this request's token; `onNote` receives its progress notes. */
  session(
    op: string,
    flags?: Partial<GlobalFlags & FleetFlags>,
    onNote?: ProvctlContext["onNote"],
  ): Session;
}

export const API = "/api/v1";

export class HttpProblem extends Error {
  readonly problem: Problem;
  readonly headers: Record<string, string>;
  constructor(p: Problem, headers: Record<string, string> = {}) {
    super(p.detail);
    this.problem = p;
    this.headers = headers;
  }
}

export const json = (value: unknown, status = 200) =>
  new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });

/** A problem-document error for a status and message key. */
export type Fail = (status: number, key: string, params?: Record<string, string | number>) => Error;
