/** provctl audit [--since -m/--machine... --op -n/--lines] and provctl metrics [-o text|json|prom] [--reset] */
import type { GlobalFlags } from "../global_flags.ts";
import type { AuditRecord } from "../../observe/audit_log.ts";
import { table } from "../render.ts";
import { command } from "../session.ts";

export interface AuditFlags extends GlobalFlags {
  readonly since?: string;
  readonly machine?: readonly string[];
  readonly op?: string;
  readonly lines?: number;
}

export const audit = command<AuditFlags, []>(async (session, flags) => {
  const { readAudit } = await import("../../observe/audit_log.ts");
  let path = session.loaded.config.path("observe.audit_file");
  const query = {
    since: flags.since,
    machine: flags.machine,
    op: flags.op,
    limit: flags.lines,
  };
  let reader: ReturnType<typeof readAudit> | undefined;
  let records: AsyncIterable<AuditRecord> | AuditRecord[];
  if (session.loaded.config.string("state.backend") === "postgres") {
    // Every controller's records; this one's backlog goes first so none is missing.
    const store = await session.state();
    await store.shipAudit?.();
    records = await store.queryAudit(query);
    path = (await store.status()).location;
  } else {
    reader = readAudit(path, query);
    records = reader;
  }
  const rows: string[][] = [];
  for await (const r of records) {
    if (session.output === "json") session.out(JSON.stringify(r));
    else {
      rows.push([
        r.ts,
        r.operator,
        r.machine,
        r.op,
        r.result,
        r.exit_code === undefined ? "-" : String(r.exit_code),
        r.duration_ms === undefined ? "-" : `${r.duration_ms} ms`,
        r.command ?? r.error ?? "",
      ]);
    }
  }
  if (session.output === "text") {
    if (rows.length === 0) session.note("observe_cli.audit_empty", { path });
    else {
      const header = ["time", "operator", "machine", "op", "result", "exit", "duration", "command"]
        .map((k) => session.colors.bold(session.format(`observe_cli.column_${k}`)));
      session.out(table([header, ...rows]).trimEnd());
    }
  }
  if (reader && reader.skipped > 0) {
    session.warn({ key: "observe.audit_lines_skipped", params: { count: reader.skipped, path } });
  }
});

export interface MetricsFlags extends Omit<GlobalFlags, "output"> {
  readonly output?: "text" | "json" | "prom";
  readonly reset?: boolean;
}

export const metrics = command<MetricsFlags & GlobalFlags, []>(async (session, flags) => {
  const { loadMetrics, renderPrometheus, resetMetrics } = await import("../../observe/metrics.ts");
  const path = session.loaded.config.path("observe.metrics_file");
  if (flags.reset) {
    await resetMetrics(path);
    session.out(session.format("observe_cli.metrics_reset", { path }));
    return;
  }
  const snapshot = await loadMetrics(path);
  const format = (flags as MetricsFlags).output ?? "text";
  if (format === "prom") {
    session.ctx.process.stdout.write(renderPrometheus(snapshot));
    return;
  }
  if (format === "json") {
    session.out(JSON.stringify(snapshot));
    return;
  }
  // Text: operations by type and result, with mean latency from the histogram.
  const totals = snapshot.families["provctl_operations_total"]?.series ?? [];
  const durations = snapshot.families["provctl_operation_duration_seconds"]?.series ?? [];
  if (totals.length === 0) {
    session.note("observe_cli.metrics_empty", { path });
    return;
  }
  const mean = (op: string) => {
    const d = durations.find((s) => s.labels.op === op);
    return d && d.count ? `${((d.sum ?? 0) / d.count * 1000).toFixed(1)} ms` : "-";
  };
  const header = ["op", "result", "count", "mean"].map((k) =>
    session.colors.bold(session.format(`observe_cli.column_${k}`))
  );
  const rows = totals.map((
    s,
  ) => [s.labels.op ?? "-", s.labels.result ?? "-", String(s.value ?? 0), mean(s.labels.op)]);
  session.out(table([header, ...rows]).trimEnd());
});
