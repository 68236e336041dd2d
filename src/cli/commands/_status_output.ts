/** Rendering of service status records: a table (text) or one JSON object per line. */
import type { ServiceStatusRecord } from "../../backends/service_records.ts";
import { shortDuration, table } from "../render.ts";
import type { Session } from "../session.ts";

function lastExitText(session: Session, r: ServiceStatusRecord): string {
  const last = r.last_exit;
  if (last?.signal) return last.signal;
  return session.format("status.last_code", { code: last?.code ?? "?" });
}

function stateText(session: Session, r: ServiceStatusRecord): string {
  const c = session.colors;
  switch (r.state) {
    case "running":
      return c.green(session.format("status.running"));
    case "exited":
      return (r.exit_code === 0 ? c.dim : c.red)(
        session.format("status.exited", { code: r.exit_code ?? "" }),
      );
    case "terminated":
      return c.red(session.format("status.terminated", { signal: r.signal ?? "" }));
    case "failed":
      if (r.reason === "restart_limit") {
        return c.red(session.format("status.failed_restart_limit", {
          restarts: r.restarts ?? 0,
          last: lastExitText(session, r),
        }));
      }
      return c.red(session.format("status.failed", { reason: r.reason ?? "" }));
    case "unreachable":
      return c.red(session.format("status.unreachable", { reason: r.reason ?? "" }));
    case "not-running":
      return c.dim(
        r.reason
          ? session.format("status.not_running_note", {
            note: session.format(`status.note_${r.reason}`),
          })
          : session.format("status.not_running"),
      );
  }
}

/** The state, with what a supervisor adds: a pending restart, or that it is gone. */
function stateWithSupervision(session: Session, r: ServiceStatusRecord): string {
  const text = stateText(session, r);
  if (r.supervisor === "gone" && r.state === "running") {
    return session.format("status.supervisor_gone", { state: text, service: r.name });
  }
  if (r.next_restart_at) {
    return session.format("status.restarting", {
      state: text,
      next: (r.restarts ?? 0) + 1,
      seconds: Math.max(0, Math.ceil((Date.parse(r.next_restart_at) - Date.now()) / 1000)),
    });
  }
  return text;
}

export function printStatuses(
  session: Session,
  rows: readonly ServiceStatusRecord[],
  options: { verb?: "started" | "restarted"; withMachine?: boolean } = {},
): void {
  if (session.output === "json") {
    for (const row of rows) session.out(JSON.stringify(row));
    return;
  }
  const withMachine = options.withMachine ?? rows.some((r) => r.machine !== "local");
  if (options.verb) {
    for (const row of rows) {
      const line = (text: string) =>
        withMachine ? session.format("fleet.host_line", { host: row.machine, text }) : text;
      session.out(line(
        row.state === "running"
          ? session.format(`cli.${options.verb}`, {
            service: row.name,
            pid: row.pid ?? "",
            backend: row.backend,
          })
          : session.format(`cli.${options.verb}_state`, {
            service: row.name,
            state: stateWithSupervision(session, row),
          }),
      ));
    }
    return;
  }
  const now = Date.now();
  // A HOST column when the rows come from other machines (--host, fleets); a RESTARTS
  // column when a supervisor restarted any of them.
  const withRestarts = rows.some((r) => (r.restarts ?? 0) > 0);
  const columns = [
    ...(withMachine ? ["host"] : []),
    "name",
    "backend",
    "state",
    "pid",
    "uptime",
    ...(withRestarts ? ["restarts"] : []),
  ];
  const header = columns.map((k) => session.colors.bold(session.format(`status.column_${k}`)));
  const body = rows.map((row) => [
    ...(withMachine ? [row.machine] : []),
    row.name,
    row.backend,
    stateWithSupervision(session, row),
    row.state === "running" && row.pid !== null ? String(row.pid) : "-",
    row.state === "running" && row.since ? shortDuration(now - Date.parse(row.since)) : "-",
    ...(withRestarts ? [row.restarts === null ? "-" : String(row.restarts)] : []),
  ]);
  session.out(table([header, ...body]).trimEnd());
}
