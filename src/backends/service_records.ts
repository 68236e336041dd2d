/**
 * The ServiceStatus and ServiceStop records (src/core/records.ts): `provctl status|start|
 * restart|stop -o json` and the API's /services routes.
 */
import type { ProcessStatus } from "../core/process_status.ts";
import type { StopResult } from "./backend.ts";
import { isoTime } from "../core/iso_time.ts";

export interface ServiceStatusRecord {
  readonly name: string;
  readonly machine: string;
  readonly backend: string;
  readonly state: ProcessStatus["state"] | "unreachable";
  readonly pid: number | null;
  readonly since: string | null;
  readonly exit_code: number | null;
  readonly signal: string | null;
  readonly reason: string | null;
  /** A supervisor's account (the pidfile backend's); null where there is none. */
  readonly restarts: number | null;
  readonly last_exit: { readonly code: number | null; readonly signal: string | null } | null;
  readonly last_restart_at: string | null;
  readonly next_restart_at: string | null;
  readonly supervisor: string | null;
}

export function statusRecord(row: {
  readonly name: string;
  readonly backend: string;
  readonly status: ProcessStatus;
  /** Inventory name; undefined = this machine ("local"). */
  readonly machine?: string;
  /** Set when the machine could not be reached: why (one line). */
  readonly unreachable?: string;
}): ServiceStatusRecord {
  const s = row.status;
  return {
    name: row.name,
    machine: row.machine ?? "local",
    backend: row.backend,
    state: row.unreachable !== undefined ? "unreachable" : s.state,
    pid: s.state === "running" ? s.pid : null,
    since: s.state === "running" && s.since ? isoTime(s.since) : null,
    exit_code: s.state === "exited" ? s.code : s.state === "failed" ? s.code ?? null : null,
    signal: s.state === "terminated" ? s.signal : s.state === "failed" ? s.signal ?? null : null,
    reason: row.unreachable ??
      (s.state === "failed" ? s.reason : s.state === "not-running" ? s.note ?? null : null),
    restarts: s.supervision?.restarts ?? null,
    last_exit: s.supervision?.lastExit
      ? { code: s.supervision.lastExit.code ?? null, signal: s.supervision.lastExit.signal ?? null }
      : null,
    last_restart_at: isoOrNull(s.supervision?.lastRestartAt),
    next_restart_at: isoOrNull(s.supervision?.nextRestartAt),
    supervisor: s.supervision?.supervisor ?? null,
  };
}

const isoOrNull = (date: Date | undefined) => (date ? isoTime(date) : null);

export interface ServiceStopRecord {
  readonly name: string;
  readonly machine: string;
  readonly backend: string;
  readonly changed: boolean;
  readonly killed: boolean;
}

export function stopRecord(
  name: string,
  machine: string | undefined,
  backend: string,
  result: StopResult,
): ServiceStopRecord {
  return {
    name,
    machine: machine ?? "local",
    backend,
    changed: result.changed,
    killed: result.killed ?? false,
  };
}
