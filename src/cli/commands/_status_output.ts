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
  };
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
            state: stateText(session, s),
          }),
      ));
    }
    return;
  }
  const now = Date.now();
  // A HOST column when the rows come from other machines (--host, fleets).
  const withHost = rows.some((r) => r.host !== undefined);
  const columns = [...(withHost ? ["host"] : []), "name", "backend", "state", "pid", "uptime"];
  const header = columns.map((k) => session.colors.bold(session.format(`status.column_${k}`)));
  const body = rows.map((row) => {
    const s = row.status;
    const state = row.unreachable !== undefined
      ? session.colors.red(session.format("status.unreachable", { reason: row.unreachable }))
      : stateText(session, s);
    return [
      ...(withHost ? [row.host ?? "local"] : []),
      row.name,
      row.backend,
      state,
      s.state === "running" ? String(s.pid) : "-",
      s.state === "running" && s.since ? shortDuration(now - s.since.getTime()) : "-",
    ];
  });
  session.out(table([header, ...body]).trimEnd());
}
