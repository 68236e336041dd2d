/**
 * ProvctlError: the one error type provctl raises on purpose.
 *
 * An error carries a `kind` (what went wrong, which decides the exit code), a message
 * key into configs/messages.toml with its parameters (so every user-facing string stays
 * in TOML), a `context` (what provctl was doing) and an optional `cause`.
 * Anything that is not a ProvctlError reaching the CLI is a bug: it gets a stack trace
 * and exit code 70.
 */

/** Every kind of failure provctl reports, grouped by who has to act. */
export type ErrorKind =
  // The user must change the input (exit 2).
  | "Usage"
  | "InvalidName"
  | "InvalidArgument"
  | "InvalidConfig"
  // The thing asked about does not exist or is not running (exit 3).
  | "NotFound"
  | "NotRunning"
  // The operation was attempted and failed (exit 1).
  | "AlreadyRunning"
  | "SpawnFailed"
  | "StartFailed"
  | "StopFailed"
  | "PermissionDenied"
  | "Timeout"
  | "BackendUnavailable"
  | "CommandFailed"
  | "Conflict"
  | "Locked"
  | "Unsupported"
  | "ConnectionFailed"
  | "AuthFailed"
  | "HostKeyUnknown"
  | "HostKeyMismatch"
  | "HostKeyRevoked"
  | "CircuitOpen"
  // A bug in provctl (exit 70, with a stack trace).
  | "Internal";

/** Exit codes, documented in the README ("Exit codes"). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  internal: 70,
} as const;

const USER_ERRORS: ReadonlySet<ErrorKind> = new Set([
  "Usage",
  "InvalidName",
  "InvalidArgument",
  "InvalidConfig",
]);
const NOT_FOUND_ERRORS: ReadonlySet<ErrorKind> = new Set(["NotFound", "NotRunning"]);

export function exitCodeFor(kind: ErrorKind): number {
  if (USER_ERRORS.has(kind)) return ExitCode.usage;
  if (NOT_FOUND_ERRORS.has(kind)) return ExitCode.notFound;
  if (kind === "Internal") return ExitCode.internal;
  return ExitCode.failed;
}

export type MessageParams = Record<string, string | number | boolean | undefined>;

export interface ProvctlErrorOptions {
  /** What provctl was doing, e.g. "starting web". */
  context?: string;
  /** Parameters substituted into the message template. */
  params?: MessageParams;
  /** Message key of an optional hint line ("what to do"). */
  hint?: string;
  cause?: unknown;
}

export class ProvctlError extends Error {
  readonly kind: ErrorKind;
  /** Key into messages.toml, e.g. "errors.invalid_name_char". */
  readonly key: string;
  readonly params: MessageParams;
  readonly context?: string;
  readonly hint?: string;

  constructor(kind: ErrorKind, key: string, options: ProvctlErrorOptions = {}) {
    // The plain message is a fallback for logs and tests; the CLI renders `key`
    // through the message catalog.
    super(`${key} ${JSON.stringify(options.params ?? {})}`, { cause: options.cause });
    this.name = "ProvctlError";
    this.kind = kind;
    this.key = key;
    this.params = options.params ?? {};
    this.context = options.context;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return exitCodeFor(this.kind);
  }

  /** A copy with the context set, for adding "while doing X" on the way up. */
  withContext(context: string): ProvctlError {
    if (this.context) return this;
    const copy = new ProvctlError(this.kind, this.key, {
      context,
      params: this.params,
      hint: this.hint,
      cause: this.cause,
    });
    copy.stack = this.stack;
    return copy;
  }
}

export function isProvctlError(e: unknown, kind?: ErrorKind): e is ProvctlError {
  return e instanceof ProvctlError && (kind === undefined || e.kind === kind);
}
