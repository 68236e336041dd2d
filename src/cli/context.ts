/**
 * The context every command runs with: where output goes, the environment, and
 * whether stdout/stderr are terminals. Tests build one with captured streams.
 */
import type { StateBackend } from "../state/backend.ts";
import type { CommandContext } from "@stricli/core";

export interface Writable {
  write(text: string): void;
  /** Bytes as they are (remote command output that may not be text). */
  writeBytes?(data: Uint8Array): void;
}

export interface ProvctlContext extends CommandContext {
  readonly process: {
    readonly stdout: Writable;
    readonly stderr: Writable;
    readonly env: Readonly<Record<string, string>>;
    exitCode?: number | string | null;
  };
  readonly stdoutIsTty: boolean;
  readonly stderrIsTty: boolean;
  readonly stdinIsTty: boolean;
  readonly cwd: string;
  /** The command line as given (the first word names the operation in the audit log). */
  readonly argv: readonly string[];
  /** Who the audit log names (default: the local user); the API sets the token's name. */
  readonly operator?: string;
  /** Also receives every progress note (the API turns them into events). */
  readonly onNote?: (key: string, params: Readonly<Record<string, unknown>>) => void;
  /** A state backend shared by many sessions (the API server's); they do not close it. */
  readonly state?: StateBackend;
}

const encoder = new TextEncoder();

function writerFor(file: { writeSync(p: Uint8Array): number }): Writable {
  const writeBytes = (bytes: Uint8Array) => {
    let data = bytes;
    // writeSync may write part of the buffer to a pipe; loop until all is out.
    while (data.length > 0) data = data.subarray(file.writeSync(data));
  };
  return { write: (text: string) => writeBytes(encoder.encode(text)), writeBytes };
}

export function processContext(): ProvctlContext {
  return {
    process: {
      stdout: writerFor(Deno.stdout),
      stderr: writerFor(Deno.stderr),
      env: Deno.env.toObject(),
    },
    stdoutIsTty: Deno.stdout.isTerminal(),
    stderrIsTty: Deno.stderr.isTerminal(),
    stdinIsTty: Deno.stdin.isTerminal(),
    cwd: Deno.cwd(),
    argv: Deno.args,
  };
}
