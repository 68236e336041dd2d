/**
 * The invocations scripts repeat in loops, `provctl status [NAME...]` and `provctl
 * version` with no flags, go straight to their command: neither Stricli nor the route
 * table is loaded or built (about 2 ms of a 28 ms start-up; docs/benchmarks.md). For such
 * a command line Stricli would call the same command with the names as given and a flags
 * object whose every value is undefined, so the command sees the same input either way
 * (tests/cli/fast_path_test.ts runs both paths side by side). Anything else, and every
 * argument that starts with "-" (flags, --help, --), goes through Stricli, which also
 * parses and reports errors.
 */
import type { ProvctlContext } from "./context.ts";
import { ExitCode } from "../core/errors.ts";

type CommandFunction = (
  this: ProvctlContext,
  flags: Record<string, never>,
  ...names: string[]
) => Promise<void>;

interface FastCommand {
  readonly load: () => Promise<CommandFunction>;
  /** Whether the command takes service names (status) or nothing (version). */
  readonly takesNames: boolean;
}

// The same modules app.ts routes these commands to.
const FAST_COMMANDS: Readonly<Record<string, FastCommand>> = {
  status: {
    load: async () => (await import("./commands/status.ts")).default as CommandFunction,
    takesNames: true,
  },
  version: {
    load: async () => (await import("./commands/version.ts")).default as CommandFunction,
    takesNames: false,
  },
};

/** The command and its names when `args` can skip the parser; undefined otherwise. */
export function fastCommand(
  args: readonly string[],
): { readonly load: () => Promise<CommandFunction>; readonly names: string[] } | undefined {
  const [first, ...rest] = args;
  if (first === undefined || !Object.hasOwn(FAST_COMMANDS, first)) return undefined;
  const command = FAST_COMMANDS[first];
  if (!command.takesNames && rest.length > 0) return undefined;
  if (rest.some((arg) => arg.startsWith("-"))) return undefined;
  return { load: command.load, names: rest };
}

/**
 * Runs `args` on the fast path; false when it does not apply or its command module could
 * not be loaded (Stricli then loads it again and reports the failure as it does for any
 * command).
 */
export async function runFast(args: readonly string[], context: ProvctlContext): Promise<boolean> {
  const fast = fastCommand(args);
  if (!fast) return false;
  let run: CommandFunction;
  try {
    run = await fast.load();
  } catch {
    return false;
  }
  try {
    await run.call(context, {}, ...fast.names);
  } catch (error) {
    // As Stricli's run() for a command that throws (commands report their own errors; this
    // is, say, more names than a call takes as arguments): its "Command failed" text on
    // stderr, without colour as for any provctl stream, and exit code 70 (app.ts).
    const { applicationText } = await import("./stricli_text.ts");
    context.process.stderr.write(
      `${applicationText().exceptionWhileRunningCommand(error, false)}\n`,
    );
    context.process.exitCode ??= ExitCode.internal;
    return true;
  }
  // As Stricli's run(): a command that set no exit code succeeded.
  context.process.exitCode ??= 0;
  return true;
}
