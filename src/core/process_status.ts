/** ProcessStatus: what a backend knows about a service right now. */

/** What a supervisor that restarts the service reports (the PID-file backend's). */
export interface Supervision {
  readonly restarts: number;
  /** How the last run ended: an exit code, or the signal that killed it. */
  readonly lastExit?: { readonly code?: number; readonly signal?: string };
  readonly lastRestartAt?: Date;
  /** Set while it waits to restart the service (backoff). */
  readonly nextRestartAt?: Date;
  /** running: watching; gone: killed although it should be watching; done: finished. */
  readonly supervisor: "running" | "gone" | "done";
}

export type ProcessStatus = ProcessState_ & { readonly supervision?: Supervision };

type ProcessState_ =
  | { readonly state: "running"; readonly pid: number; readonly since?: Date }
  | { readonly state: "not-running"; readonly note?: string }
  | { readonly state: "exited"; readonly code: number; readonly at?: Date }
  | { readonly state: "terminated"; readonly signal: string; readonly at?: Date }
  | {
    readonly state: "failed";
    readonly reason: string;
    readonly code?: number;
    readonly signal?: string;
  };

export type ProcessState = ProcessStatus["state"];

export const Status = {
  running: (pid: number, since?: Date): ProcessStatus => ({ state: "running", pid, since }),
  notRunning: (note?: string): ProcessStatus => ({ state: "not-running", note }),
  exited: (code: number, at?: Date): ProcessStatus => ({ state: "exited", code, at }),
  terminated: (signal: string, at?: Date): ProcessStatus => ({ state: "terminated", signal, at }),
  failed: (reason: string, extra: { code?: number; signal?: string } = {}): ProcessStatus => ({
    state: "failed",
    reason,
    ...extra,
  }),
};

export function isRunning(
  status: ProcessStatus,
): status is Extract<ProcessStatus, { state: "running" }> {
  return status.state === "running";
}
