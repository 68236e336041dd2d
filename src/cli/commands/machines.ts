/**
 * provctl machines list | check | refresh: the inventory (with machines discovered from
 * cloud sources), whether each machine answers (reachable, host key, authentication,
 * backend detected, latency; checked in parallel), and fetching cloud sources now.
 */
import { ExitCode, isProvctlError, ProvctlError } from "../../core/errors.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags, SelectFlags } from "../fleet_flags.ts";
import { table } from "../render.ts";
import { command } from "../session.ts";

export const list = command<GlobalFlags & SelectFlags, string[]>(
  async (session, flags, ...names) => {
    const { selectFleet } = await import("../fleet.ts");
    const fleet = await selectFleet(session, flags, names, { defaultAll: true, listing: true });
    if (session.output === "json") {
      for (const m of fleet.machines) {
        session.out(JSON.stringify({
          name: m.name,
          host: m.host,
          port: m.port ?? null,
          user: m.user ?? null,
          jump: m.jump ?? null,
          profile: m.profile ?? null,
          labels: m.labels,
          vars: m.vars,
          origin: m.origin,
          source: m.source ?? null,
          stale: m.stale ?? false,
        }));
      }
      return;
    }
    const header = ["name", "host", "user", "profile", "source", "labels"].map((k) =>
      session.colors.bold(session.format(`machines.column_${k}`))
    );
    const rows = fleet.machines.map((m) => [
      m.name,
      m.port === undefined ? m.host : `${m.host}:${m.port}`,
      m.user ?? "-",
      m.profile ?? "-",
      m.source === undefined ? "-" : m.stale ? `${m.source} (stale)` : m.source,
      Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-",
    ]);
    session.out(table([header, ...rows]).trimEnd());
  },
);

interface CheckRow {
  readonly name: string;
  readonly ok: boolean;
  readonly stage: "connect" | "host-key" | "auth" | "command" | "backend" | "done" | "skipped";
  readonly backend?: string;
  readonly latencyMs?: number;
  readonly error?: string;
}

function stageOf(error: unknown): CheckRow["stage"] {
  if (!isProvctlError(error)) return "command";
  if (error.kind.startsWith("HostKey")) return "host-key";
  if (error.kind === "AuthFailed") return "auth";
  if (
    error.kind === "ConnectionFailed" || error.kind === "CircuitOpen" || error.kind === "Timeout"
  ) {
    return "connect";
  }
  return "command";
}

export const check = command<GlobalFlags & FleetFlags, string[]>(
  async (session, flags, ...names) => {
    const [{ selectFleet }, { runFleet }, { detectBackends }] = await Promise.all([
      import("../fleet.ts"),
      import("../../fleet/executor.ts"),
      import("../../backends/detect.ts"),
    ]);
    const fleet = await selectFleet(session, flags, names, { defaultAll: true });
    const outcomes = await runFleet(fleet.targets, async (target) => {
      let stage: CheckRow["stage"] = "connect";
      try {
        const runner = await target.runner();
        await runner.run("true", []); // connect, verify the host key, authenticate
        stage = "command";
        const t0 = performance.now();
        const probe = await runner.run("true", []); // a command on the open connection
        const latencyMs = performance.now() - t0;
        if (probe.code !== 0) throw new Error(probe.stderr.trim() || `exit code ${probe.code}`);
        stage = "backend";
        const report = await detectBackends(runner, await target.hostInfo());
        return {
          ok: true,
          value: {
            name: target.name,
            ok: true,
            stage: "done",
            backend: report.chosen,
            latencyMs,
          } as CheckRow,
        };
      } catch (error) {
        const failedAt = stage === "connect" ? stageOf(error) : stage;
        return {
          ok: false,
          value: {
            name: target.name,
            ok: false,
            stage: failedAt,
            error: session.errorLine(error),
          } as CheckRow,
        };
      }
    }, { forks: fleet.forks, maxFailures: fleet.maxFailures });
    // Past --max-failures the rest are not checked: shown as skipped.
    const rows = outcomes.map((o) =>
      o.value ?? {
        name: o.host,
        ok: false,
        stage: "skipped" as const,
        error: session.format("fleet.skipped"),
      }
    );
    if (session.output === "json") {
      for (const r of rows) {
        session.out(JSON.stringify({
          name: r.name,
          ok: r.ok,
          failed_at: r.ok ? null : r.stage,
          backend: r.backend ?? null,
          latency_ms: r.latencyMs === undefined ? null : Math.round(r.latencyMs * 10) / 10,
          error: r.error ?? null,
        }));
      }
    } else {
      const c = session.colors;
      const header = ["name", "result", "backend", "latency"].map((k) =>
        c.bold(session.format(`machines.column_${k}`))
      );
      session.out(
        table([
          header,
          ...rows.map((r) => [
            r.name,
            r.ok
              ? c.green(session.format("machines.ok"))
              : r.stage === "skipped"
              ? c.yellow(r.error ?? "")
              : c.red(
                session.format("machines.failed_at", { stage: r.stage, error: r.error ?? "" }),
              ),
            r.backend ?? "-",
            r.latencyMs === undefined ? "-" : `${r.latencyMs.toFixed(1)} ms`,
          ]),
        ]).trimEnd(),
      );
    }
    return rows.every((r) => r.ok) ? ExitCode.ok : ExitCode.failed;
  },
);

/** provctl machines refresh [SOURCE...]: fetch cloud sources now and update their cache. */
export const refresh = command<GlobalFlags & FleetFlags, string[]>(
  async (session, flags, ...sources) => {
    const [{ loadStaticInventory }, { discoverWithSession }] = await Promise.all([
      import("../fleet.ts"),
      import("../discovery.ts"),
    ]);
    const inventory = await loadStaticInventory(session, flags.inventory);
    if (!inventory.sources?.length) {
      throw new ProvctlError("NotFound", "discovery.no_sources", {
        params: { file: inventory.file ?? inventory.searched.join(", ") },
        hint: "discovery.no_sources_hint",
      });
    }
    const { results } = await discoverWithSession(session, inventory, {
      cache: flags.noCache ? "off" : "refresh",
      only: sources.length > 0 ? sources : undefined,
      quietFailures: true,
    });
    const ok = (r: (typeof results)[number]) => r.state === "fresh";
    if (session.output === "json") {
      for (const r of results) {
        session.out(JSON.stringify({
          source: r.source.name,
          provider: r.source.provider,
          state: r.state,
          machines: r.records.length,
          pages: r.pages,
          requests: r.requests,
          duration_ms: Math.round(r.durationMs),
          fetched_at: r.fetchedAt ?? null,
          error: r.error === undefined ? null : session.errorLine(r.error),
        }));
      }
    } else {
      const c = session.colors;
      const header = ["source", "provider", "state", "machines", "pages", "time", "error"].map((
        k,
      ) => c.bold(session.format(`discovery.column_${k}`)));
      session.out(
        table([
          header,
          ...results.map((r) => [
            r.source.name,
            r.source.provider,
            ok(r) ? c.green(r.state) : c.red(r.state),
            String(r.records.length),
            String(r.pages),
            `${(r.durationMs / 1000).toFixed(1)} s`,
            r.error === undefined ? "-" : session.errorLine(r.error),
          ]),
        ]).trimEnd(),
      );
    }
    return results.every(ok) ? ExitCode.ok : ExitCode.failed;
  },
);
