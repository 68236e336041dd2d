/**
 * provctl entry point. Parses the command line with Stricli and maps its outcome to
 * provctl's documented exit codes (0 ok, 1 failed, 2 usage, 3 not running/not found,
 * 70 internal error). `status NAME...` and `version` without flags skip the parser
 * (cli/fast_path.ts): Stricli and the route table are loaded only for other command lines.
 */
import type { ExitCode as StricliExit } from "@stricli/core";
import { processContext } from "./cli/context.ts";
import { runFast } from "./cli/fast_path.ts";
import { ExitCode } from "./core/errors.ts";
import { VERSION } from "./version.ts";

export async function main(args: readonly string[]): Promise<number> {
  const context = processContext();
  // The version flag is provctl's own: Stricli's would claim -v, which is --verbose in
  // every command.
  if (args.length === 1 && args[0] === "--version") {
    context.process.stdout.write(`${VERSION}\n`);
    return ExitCode.ok;
  }
  if (!await runFast(args, context)) {
    const [{ run }, { appFor }] = await Promise.all([
      import("@stricli/core"),
      import("./cli/app.ts"),
    ]);
    await run(appFor(args), args, context);
  }
  return exitCodeOf(context.process.exitCode);
}

// Stricli's codes for a command line it could not parse or route. Typed by Stricli's own
// constants, so `deno check` fails if they change; held here so that a command on the
// fast path does not load Stricli only to read two numbers.
const INVALID_ARGUMENT: typeof StricliExit.InvalidArgument = -4;
const UNKNOWN_COMMAND: typeof StricliExit.UnknownCommand = -5;

/**
 * provctl's exit code for what a run left in `process.exitCode`: a command's own code, or
 * one of Stricli's negative codes. Only a command line Stricli could not parse or route is
 * a usage error (2); its other codes (a command module or the context failed to load, an
 * uncaught error) are bugs in provctl (70).
 */
export function exitCodeOf(raw: number | string | null | undefined): number {
  const code = Number(raw ?? 0);
  if (code === INVALID_ARGUMENT || code === UNKNOWN_COMMAND) return ExitCode.usage;
  if (!Number.isInteger(code) || code < 0 || code > 255) return ExitCode.internal;
  return code;
}

if (import.meta.main) {
  if (Deno.args[0] === "__keeper") {
    // The SSH connection keeper started by an earlier invocation (ssh/keeper.ts).
    const { runKeeper } = await import("./ssh/keeper.ts");
    await runKeeper(Deno.args[1] ?? "").catch(() => {});
    Deno.exit(0);
  }
  Deno.exit(await main(Deno.args));
}
