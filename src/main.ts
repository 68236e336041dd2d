/**
 * provctl entry point. Parses the command line with Stricli and maps its outcome to
 * provctl's documented exit codes (0 ok, 1 failed, 2 usage, 3 not running/not found,
 * 70 internal error).
 */
import { run } from "@stricli/core";
import { app } from "./cli/app.ts";
import { processContext } from "./cli/context.ts";
import { ExitCode } from "./core/errors.ts";

export async function main(args: readonly string[]): Promise<number> {
  const context = processContext();
  await run(app, args, context);
  const code = Number(context.process.exitCode ?? 0);
  // Stricli reports its own parse failures with negative codes: those are usage errors.
  if (code < 0) return ExitCode.usage;
  return Number.isFinite(code) ? code : ExitCode.internal;
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
