/** A PID-file backend keeping all its state in `dir`, with short test timings. */
import { PidfileBackend } from "../../src/backends/pidfile.ts";
import type { CommandRunner } from "../../src/exec/runner.ts";

export function testPidfileBackend(runner: CommandRunner, dir: string): PidfileBackend {
  return new PidfileBackend({
    runner,
    paths: {
      stateDir: dir,
      pidFile: (n) => `${dir}/run/${n}.pid`,
      logFile: (n) => `${dir}/logs/${n}.log`,
    },
    startGraceMs: 300,
    lockMs: 5000,
    commandTimeoutMs: 10_000,
  });
}
