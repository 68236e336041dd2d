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
