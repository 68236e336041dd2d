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

/**
 * The most names (or command words) a command takes: a call given many more overflows the
 * stack as its arguments are spread (a RangeError near 127 000 of them), so more is a
 * usage error (app.ts), and not a fast path either.
 */
export const MAX_ARGUMENTS = 65_536;

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
  if (rest.length > MAX_ARGUMENTS || rest.some((arg) => arg.startsWith("-"))) return undefined;
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
  await run.call(context, {}, ...fast.names);
  // As Stricli's run(): a command that set no exit code succeeded.
  context.process.exitCode ??= 0;
  return true;
}
