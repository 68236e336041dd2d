/** Parses `systemctl show -p ...` output and maps it to a ProcessStatus. */
import { type ProcessStatus, Status } from "../core/process_status.ts";
import { signalNameOf } from "../core/signals.ts";

/** The properties one status query asks for (one `systemctl show` call). */
export const SHOW_PROPERTIES = [
  "LoadState",
  "ActiveState",
  "SubState",
  "MainPID",
  "ExecMainStatus",
  "ExecMainCode",
  "ExecMainExitTimestamp",
  "ActiveEnterTimestamp",
  "Result",
  "FragmentPath",
  "UnitFileState",
  "NeedDaemonReload",
] as const;

export type ShowProperties = Partial<Record<(typeof SHOW_PROPERTIES)[number], string>>;

export function parseShow(text: string): ShowProperties {
  const props: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) props[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return props;
}

/**
 * A timestamp as systemctl prints it with TZ=UTC ("Thu 2026-11-26 17:19:50 UTC");
 * undefined when empty or in another zone (then it is not worth guessing).
 */
export function parseShowTimestamp(value: string | undefined): Date | undefined {
  const match = value?.match(/^\w+ (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (?:UTC|GMT)$/);
  if (!match) return undefined;
  const date = new Date(`${match[1]}T${match[2]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

// ExecMainCode holds a waitid() si_code: CLD_EXITED=1, CLD_KILLED=2, CLD_DUMPED=3.
const CLD_EXITED = "1";

function lastExit(props: ShowProperties): { code?: number; signal?: string } {
  const status = Number(props.ExecMainStatus ?? "0");
  if (props.ExecMainCode === CLD_EXITED) return { code: status };
  if (props.ExecMainCode === "2" || props.ExecMainCode === "3") {
    return { signal: signalNameOf(status) };
  }
  return {};
}

/** Undefined when systemd does not know the unit (LoadState=not-found). */
export function statusFromShow(props: ShowProperties): ProcessStatus | undefined {
  if (props.LoadState === "not-found" || props.LoadState === undefined) return undefined;
  const pid = Number(props.MainPID ?? "0");
  const active = props.ActiveState ?? "inactive";
  if (pid > 0 && active !== "inactive" && active !== "failed") {
    return Status.running(pid, parseShowTimestamp(props.ActiveEnterTimestamp));
  }
  if (active === "failed") return Status.failed(props.Result ?? "failed", lastExit(props));
  if (props.SubState === "auto-restart") {
    const exit = lastExit(props);
    return Status.notRunning(
      `restarting after ${exit.signal ?? `exit code ${exit.code ?? "?"}`} (${props.Result ?? "?"})`,
    );
  }
  if (active === "activating") return Status.notRunning("starting");
  if (active === "deactivating") return Status.notRunning("stopping");
  if (props.LoadState === "masked") return Status.notRunning("masked");
  return Status.notRunning();
}
