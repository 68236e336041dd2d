/** The ExecResult record (src/core/records.ts): `provctl exec -o json` and the API's operations. */
import type { RunResult } from "../exec/runner.ts";
import type { HostOutcome } from "./executor.ts";

export interface ExecRecord {
  readonly machine: string;
  readonly status: HostOutcome<RunResult>["status"];
  readonly exit_code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly duration_ms: number;
  readonly attempts: number;
  readonly error: string | null;
}

/** `attempts`: connection attempts, retries included (default: 1, none when skipped). */
export function execRecord(
  o: HostOutcome<RunResult>,
  describe: (error: unknown) => string,
  attempts: number = o.status === "skipped" ? 0 : 1,
): ExecRecord {
  return {
    machine: o.host,
    status: o.status,
    exit_code: o.value?.code ?? null,
    signal: o.value?.signal ?? null,
    stdout: o.value?.stdout ?? "",
    stderr: o.value?.stderr ?? "",
    duration_ms: Math.round(o.durationMs),
    attempts,
    error: o.error === undefined ? null : describe(o.error),
  };
}
