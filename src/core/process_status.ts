/** ProcessStatus: what a backend knows about a service right now. */

export type ProcessStatus =
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
