/**
 * RFC 9457 problem documents. `detail` is the text the CLI prints for the same error
 * (from messages.toml), `code` its message key, `hint` the CLI's hint line.
 */
import { type ErrorKind, isProvctlError, type MessageParams } from "../core/errors.ts";
import type { Messages } from "../config/messages.ts";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code?: string;
  hint?: string;
  instance?: string;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export function problem(
  messages: Messages,
  status: number,
  key: string,
  params: MessageParams = {},
  hint?: string,
): Problem {
  const p: Problem = {
    type: `urn:provctl:problem:${key}`,
    title: TITLES[status] ?? "Error",
    status,
    detail: messages.format(key, params),
    code: key,
  };
  if (hint && messages.has(hint)) p.hint = messages.format(hint, params);
  return p;
}

const STATUS_OF: Partial<Record<ErrorKind, number>> = {
  Usage: 400,
  InvalidName: 400,
  InvalidArgument: 400,
  InvalidConfig: 422,
  NotFound: 404,
  NotRunning: 404,
  AlreadyRunning: 409,
  Conflict: 409,
  Locked: 409,
  Timeout: 504,
  ConnectionFailed: 502,
  AuthFailed: 502,
  HostKeyUnknown: 502,
  HostKeyMismatch: 502,
  HostKeyRevoked: 502,
  CircuitOpen: 503,
};

/** The problem a ProvctlError is; undefined for anything else (a bug: 500, logged). */
export function problemOf(messages: Messages, error: unknown): Problem | undefined {
  if (!isProvctlError(error) || error.kind === "Internal") return undefined;
  return problem(messages, STATUS_OF[error.kind] ?? 500, error.key, error.params, error.hint);
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(p), {
    status: p.status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}
