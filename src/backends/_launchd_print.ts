/** Parses `launchctl print DOMAIN/LABEL` output (macOS 11+) into what status needs. */
import { type ProcessStatus, Status } from "../core/process_status.ts";
import { signalNameOf } from "../core/signals.ts";

export interface LaunchdJobInfo {
  /** "running", "not running", "spawn scheduled", "exited", ... */
  readonly state?: string;
  readonly pid?: number;
  /** Undefined when the job never exited ("(never exited)"). */
  readonly lastExitCode?: number;
  /** From "last terminating signal = Killed: 9". */
  readonly lastSignal?: string;
  readonly runs?: number;
  readonly path?: string;
  readonly stdoutPath?: string;
  readonly stderrPath?: string;
}

/**
 * Reads only the job's own top-level fields (one tab deep): nested blocks such as
 * endpoints or event channels have their own "state = active" lines.
 */
export function parsePrint(text: string): LaunchdJobInfo {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = line.match(/^\t([a-z][a-z ()]*?) = (.*)$/);
    if (match && !fields.has(match[1])) fields.set(match[1], match[2].trim());
  }
  const int = (value: string | undefined) => {
    const m = value?.match(/^-?\d+/);
    return m ? Number(m[0]) : undefined;
  };
  const signal = fields.get("last terminating signal")?.match(/(\d+)\s*$/);
  return {
    state: fields.get("state"),
    pid: int(fields.get("pid")),
    lastExitCode: int(fields.get("last exit code")),
    lastSignal: signal ? signalNameOf(Number(signal[1])) : undefined,
    runs: int(fields.get("runs")),
    path: fields.get("path"),
    stdoutPath: fields.get("stdout path"),
    stderrPath: fields.get("stderr path"),
  };
}

export function statusFromPrint(info: LaunchdJobInfo): ProcessStatus {
  if (info.state === "running" && info.pid !== undefined && info.pid > 0) {
    return Status.running(info.pid);
  }
  if (info.lastSignal) return Status.failed("signal", { signal: info.lastSignal });
  if (info.lastExitCode !== undefined && info.lastExitCode !== 0) {
    return Status.failed("exit-code", { code: info.lastExitCode });
  }
  if (info.lastExitCode === 0) return Status.notRunning("exited with code 0");
  return Status.notRunning(info.state);
}
