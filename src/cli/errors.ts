/**
 * How errors reach users: a ProvctlError is one line (plus a hint line), with its
 * exit code; anything else is a bug in provctl and gets a stack trace and exit 70.
 */
import { ExitCode, isProvctlError } from "../core/errors.ts";
import { embeddedMessages, Messages } from "../config/messages.ts";
import type { Palette } from "./render.ts";

export interface RenderOptions {
  messages?: Messages;
  verbose: boolean;
  colors: Palette;
}

export function renderError(
  error: unknown,
  options: RenderOptions,
): { text: string; exitCode: number } {
  const messages = options.messages ?? new Messages(embeddedMessages());
  const c = options.colors;
  if (isProvctlError(error) && error.kind !== "Internal") {
    const lines = [
      `${c.red(messages.format("cli.error_prefix"))} ${messages.format(error.key, error.params)}`,
    ];
    if (error.hint && messages.has(error.hint)) {
      lines.push(
        `${c.dim(messages.format("cli.hint_prefix"))} ${messages.format(error.hint, error.params)}`,
      );
    }
    if (options.verbose) {
      if (error.context) lines.push(messages.format("cli.while", { context: error.context }));
      if (error.cause) lines.push(messages.format("cli.cause", { cause: describe(error.cause) }));
    }
    return { text: lines.join("\n") + "\n", exitCode: error.exitCode };
  }
  if (isOsError(error)) {
    // A file or directory provctl was pointed at cannot be used (a state dir that is a
    // file, a read-only disk): the user's environment, not a bug; no stack trace.
    const lines = [
      `${c.red(messages.format("cli.error_prefix"))} ${
        messages.format("errors.os_error", { detail: error.message })
      }`,
    ];
    if (options.verbose && error.stack) lines.push(error.stack);
    return { text: lines.join("\n") + "\n", exitCode: ExitCode.failed };
  }
  const detail = isProvctlError(error) ? messages.format(error.key, error.params) : describe(error);
  const stack = error instanceof Error && error.stack ? error.stack : String(error);
  return {
    text: `${messages.format("errors.internal", { detail })}\n${stack}\n`,
    exitCode: ExitCode.internal,
  };
}

function describe(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

const OS_ERRORS = [
  Deno.errors.NotFound,
  Deno.errors.PermissionDenied,
  Deno.errors.NotADirectory,
  Deno.errors.IsADirectory,
  Deno.errors.AlreadyExists,
  Deno.errors.FilesystemLoop,
] as const;

function isOsError(error: unknown): error is Error {
  return OS_ERRORS.some((kind) => error instanceof kind) ||
    (error instanceof Error && /\(os error \d+\)/.test(error.message));
}
