/**
 * Reads the last lines of a log file through a runner, and follows it, across size-based
 * rotation (LOG.1 is the newest rotated file, LOG.2 older, ...): the last N lines may
 * start in rotated files, and following goes on into the new file after a rotation
 * (`tail -F` follows the name, not the renamed file).
 */
import type { ProvctlError } from "../core/errors.ts";
import { sh } from "../exec/host_fs.ts";
import type { CommandRunner } from "../exec/runner.ts";
import type { LogOptions, LogSink } from "./backend.ts";

// tail N [follow] LOG: the last N lines across LOG.K ... LOG.1 LOG, then (follow) the
// rest of LOG as it grows and after it is replaced.
const TAIL = `n=$1 follow=$2 log=$3
cur=0
[ ! -e "$log" ] || cur=$(wc -l < "$log")
from=$n
if [ "$cur" -lt "$n" ]; then
  need=$((n - cur)) total=0 i=1
  set --
  while [ "$total" -lt "$need" ] && [ -e "$log.$i" ]; do
    set -- "$log.$i" "$@"
    total=$((total + $(wc -l < "$log.$i")))
    i=$((i + 1))
  done
  [ $# -eq 0 ] || cat -- "$@" | tail -n "$need"
  from=+1
fi
if [ "$follow" = 1 ]; then
  exec tail -n "$from" -F -- "$log" 2>/dev/null
fi
[ ! -e "$log" ] || exec tail -n "$from" -- "$log"`;

export async function followFile(
  runner: CommandRunner,
  path: string,
  options: LogOptions,
  sink: LogSink,
  missing: () => ProvctlError,
  shell = "/bin/sh",
): Promise<void> {
  const exists = await sh(runner, `[ -e "$1" ] || [ -e "$1.1" ]`, [path], { shell });
  if (exists.code !== 0) throw missing();
  const lines = String(Math.max(0, Math.floor(options.lines)));
  const proc = runner.stream(shell, [
    "-c",
    TAIL,
    "provctl",
    lines,
    options.follow ? "1" : "0",
    path,
  ], {
    signal: options.signal,
  });
  const pump = async () => {
    for await (const chunk of proc.stdout) await sink(chunk);
  };
  const drainErr = async () => {
    for await (const _ of proc.stderr) { /* tail's complaints are not log lines */ }
  };
  await Promise.all([pump(), drainErr(), proc.done]);
}
