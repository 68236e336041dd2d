/** Health check definitions and results (shared by the parser, the checks and the monitor). */
import type { MessageParams, ProvctlError } from "../core/errors.ts";

/** Where a network check runs: on provctl's machine, or on the machine behind the runner. */
export type CheckOrigin = "controller" | "remote";

/** An inclusive range of acceptable HTTP status codes. */
export interface StatusRange {
  readonly min: number;
  readonly max: number;
}

interface CheckBase {
  /** Per-check time limit; the caller's default applies when unset. */
  readonly timeoutMs?: number;
}

/** Runs a program through the runner; healthy on exit 0. */
export interface CommandCheck extends CheckBase {
  readonly type: "command";
  readonly program: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface HttpCheck extends CheckBase {
  readonly type: "http";
  /** An absolute http:// or https:// URL. */
  readonly url: string;
  readonly from: CheckOrigin;
  readonly method: "GET" | "HEAD";
  readonly status: StatusRange;
  readonly headers: Readonly<Record<string, string>>;
  /** The body must contain this text (GET only). */
  readonly bodyContains?: string;
  /** The body must match this regular expression (JavaScript syntax, GET only). */
  readonly bodyRegex?: string;
  /** Accept any TLS certificate (self-signed, wrong name). Only when asked for. */
  readonly tlsInsecure: boolean;
  /** Extra CA (or the self-signed certificate itself) to trust, a PEM file on the machine that sends the request. */
  readonly caFile?: string;
}

export interface TcpCheck extends CheckBase {
  readonly type: "tcp";
  readonly host: string;
  readonly port: number;
  readonly from: CheckOrigin;
}

/** A program named in the health config's scripts table. */
export interface HealthScript {
  readonly program: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** A named script: exit 0 healthy, exit 1 unhealthy, anything else is a check error. */
export interface CustomCheck extends CheckBase, HealthScript {
  readonly type: "custom";
  readonly script: string;
}

export type HealthCheck = CommandCheck | HttpCheck | TcpCheck | CustomCheck;

/**
 * pass: healthy. fail: the check ran and the target is unhealthy. error: the check
 * itself could not be carried out or judged (no tool on the remote, a script's
 * unexpected exit code, a runner failure) — not healthy either.
 */
export type CheckStatus = "pass" | "fail" | "error";

export interface CheckResult {
  readonly ok: boolean;
  readonly status: CheckStatus;
  /** Short human text, rendered from `message` with the embedded catalog. */
  readonly detail: string;
  /** The message key and params of `detail`, to render with the user's catalog. */
  readonly message: { readonly key: string; readonly params: MessageParams };
  readonly latencyMs: number;
  /** Epoch milliseconds when the check started. */
  readonly startedAt: number;
  /** "controller" or the runner's target ("local", "ssh user@host:port"). */
  readonly ranOn: string;
  /** The tool that did the work: fetch, node-https, connect, curl, wget, python3, bash, nc, or the program. */
  readonly via?: string;
  readonly httpStatus?: number;
  readonly exitCode?: number;
  /** For status "error": the underlying error, when there is one. */
  readonly error?: ProvctlError;
}
