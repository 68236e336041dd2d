/** Rendering of service statuses: a table (text) or one JSON object per line. */
import type { ProcessStatus } from "../../core/process_status.ts";
import { shortDuration, table } from "../render.ts";
import type { Session } from "../session.ts";

export interface ServiceStatusRow {
  readonly name: string;
  readonly backend: string;
  readonly status: ProcessStatus;
  readonly host?: string;
}

/** The stable JSON shape of a status, documented in the README. */
export function statusJson(row: ServiceStatusRow): Record<string, unknown> {
  const s = row.status;
  return {
    name: row.name,
    host: row.host ?? "local",
    backend: row.backend,
    state: s.state,
    pid: s.state === "running" ? s.pid : null,
    since: s.state === "running" && s.since ? s.since.toISOString() : null,
    exit_code: s.state === "exited" ? s.code : s.state === "failed" ? s.code ?? null : null,
    signal: s.state === "terminated" ? s.signal : s.state === "failed" ? s.signal ?? null : null,
    reason: s.state === "failed" ? s.reason : s.state === "not-running" ? s.note ?? null : null,
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
      session.out(
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
      );
    }
    return;
  }
  const now = Date.now();
  const header = ["name", "backend", "state", "pid", "uptime"].map((k) =>
    session.colors.bold(session.format(`status.column_${k}`))
  );
  const body = rows.map((row) => {
    const s = row.status;
    return [
      row.name,
      row.backend,
      stateText(session, s),
      s.state === "running" ? String(s.pid) : "-",
      s.state === "running" && s.since ? shortDuration(now - s.since.getTime()) : "-",
    ];
  });
  session.out(table([header, ...body]).trimEnd());
}
