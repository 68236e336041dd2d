/** Rendering of service statuses: a table (text) or one JSON object per line. */
import type { ProcessStatus } from "../../core/process_status.ts";
import { shortDuration, table } from "../render.ts";
import type { Session } from "../session.ts";

export interface ServiceStatusRow {
  readonly name: string;
  readonly backend: string;
  readonly status: ProcessStatus;
  readonly host?: string;
  /** Set when the machine could not be reached: why (one line). */
  readonly unreachable?: string;
}

/** The stable JSON shape of a status, documented in the README. */
export function statusJson(row: ServiceStatusRow): Record<string, unknown> {
  const s = row.status;
  return {
    name: row.name,
    host: row.host ?? "local",
    backend: row.backend,
    state: row.unreachable !== undefined ? "unreachable" : s.state,
    pid: s.state === "running" ? s.pid : null,
    since: s.state === "running" && s.since ? s.since.toISOString() : null,
    exit_code: s.state === "exited" ? s.code : s.state === "failed" ? s.code ?? null : null,
    signal: s.state === "terminated" ? s.signal : s.state === "failed" ? s.signal ?? null : null,
    reason: row.unreachable ??
      (s.state === "failed" ? s.reason : s.state === "not-running" ? s.note ?? null : null),
    // A supervisor's account (the pidfile backend's); null where there is none.
    restarts: s.supervision?.restarts ?? null,
    last_exit: s.supervision?.lastExit
      ? { code: s.supervision.lastExit.code ?? null, signal: s.supervision.lastExit.signal ?? null }
      : null,
    last_restart_at: s.supervision?.lastRestartAt?.toISOString() ?? null,
    next_restart_at: s.supervision?.nextRestartAt?.toISOString() ?? null,
    supervisor: s.supervision?.supervisor ?? null,
  };
}

function lastExitText(session: Session, s: ProcessStatus): string {
  const last = s.supervision?.lastExit;
  if (last?.signal) return last.signal;
  return session.format("status.last_code", { code: last?.code ?? "?" });
}

/** The state, with what a supervisor adds: a pending restart, or that it is gone. */
function stateWithSupervision(session: Session, s: ProcessStatus, service: string): string {
  const text = stateText(session, s);
  const sup = s.supervision;
  if (!sup) return text;
  if (sup.supervisor === "gone" && s.state === "running") {
    return session.format("status.supervisor_gone", { state: text, service });
  }
  if (sup.nextRestartAt) {
    return session.format("status.restarting", {
      state: text,
      next: sup.restarts + 1,
      seconds: Math.max(0, Math.ceil((sup.nextRestartAt.getTime() - Date.now()) / 1000)),
    });
  }
  return text;
}

function stateText(session: Session, s: ProcessStatus): string {
  const c = session.colors;
  switch (s.state) {
    case "running":
      return c.green(session.format("status.running"));
    case "exited":
      return (s.code === 0 ? c.dim : c.red)(session.format("status.exited", { code: s.code }));
    case "terminated":
      return c.red(session.format("status.terminated", { signal: s.signal }));
    case "failed":
      if (s.reason === "restart_limit") {
        return c.red(session.format("status.failed_restart_limit", {
          restarts: s.supervision?.restarts ?? 0,
          last: lastExitText(session, s),
        }));
      }
      return c.red(session.format("status.failed", { reason: s.reason }));
    case "not-running":
      return c.dim(
        s.note
          ? session.format("status.not_running_note", {
            note: session.format(`status.note_${s.note}`),
          })
          : session.format("status.not_running"),
      );
  }
}

export function printStatuses(
  session: Session,
  rows: readonly ServiceStatusRow[],
  options: { verb?: "started" | "restarted" } = {},
): void {
  if (session.output === "json") {
    for (const row of rows) session.out(JSON.stringify(statusJson(row)));
    return;
  }
  if (options.verb) {
    for (const row of rows) {
      const s = row.status;
      const line = (text: string) =>
        row.host ? session.format("fleet.host_line", { host: row.host, text }) : text;
      session.out(line(
        s.state === "running"
          ? session.format(`cli.${options.verb}`, {
            service: row.name,
            pid: s.pid,
            backend: row.backend,
          })
          : session.format(`cli.${options.verb}_state`, {
            service: row.name,
            state: stateWithSupervision(session, s, row.name),
          }),
      ));
    }
    return;
  }
  const now = Date.now();
  // A HOST column when the rows come from other machines (--host, fleets).
  const withHost = rows.some((r) => r.host !== undefined);
  // A RESTARTS column when a supervisor restarted any of them.
  const withRestarts = rows.some((r) => (r.status.supervision?.restarts ?? 0) > 0);
  const columns = [
    ...(withHost ? ["host"] : []),
    "name",
    "backend",
    "state",
    "pid",
    "uptime",
    ...(withRestarts ? ["restarts"] : []),
  ];
  const header = columns.map((k) => session.colors.bold(session.format(`status.column_${k}`)));
  const body = rows.map((row) => {
    const s = row.status;
    const state = row.unreachable !== undefined
      ? session.colors.red(session.format("status.unreachable", { reason: row.unreachable }))
      : stateWithSupervision(session, s, row.name);
    return [
      ...(withHost ? [row.host ?? "local"] : []),
      row.name,
      row.backend,
      state,
      s.state === "running" ? String(s.pid) : "-",
      s.state === "running" && s.since ? shortDuration(now - s.since.getTime()) : "-",
      ...(withRestarts ? [String(s.supervision?.restarts ?? "-")] : []),
    ];
  });
  session.out(table([header, ...body]).trimEnd());
}
