/** Reads the last lines of a log file through a runner, and follows it (tail -f). */
import type { ProvctlError } from "../core/errors.ts";
import { sh } from "../exec/host_fs.ts";
import type { CommandRunner } from "../exec/runner.ts";
import type { LogOptions } from "./backend.ts";

export async function followFile(
  runner: CommandRunner,
  path: string,
  options: LogOptions,
  sink: (chunk: Uint8Array) => void,
  missing: () => ProvctlError,
): Promise<void> {
  const exists = await sh(runner, `[ -e "$1" ]`, [path]);
  if (exists.code !== 0) throw missing();
  const args = ["-n", String(options.lines), ...(options.follow ? ["-f"] : []), "--", path];
  const proc = runner.stream("tail", args, { signal: options.signal });
  const pump = async () => {
    for await (const chunk of proc.stdout) sink(chunk);
  };
  const drainErr = async () => {
    for await (const _ of proc.stderr) { /* tail's complaints are not log lines */ }
  };
  await Promise.all([pump(), drainErr(), proc.done]);
}
