/**
 * provctl machines list | check | refresh: the inventory (with machines discovered from
 * cloud sources), whether each machine answers (reachable, host key, authentication,
 * backend detected, latency; checked in parallel), and fetching cloud sources now.
 */
import { ExitCode, ProvctlError } from "../../core/errors.ts";
import { checkMachines, machineRecord } from "../../fleet/machine_records.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags, SelectFlags } from "../fleet_flags.ts";
import { table } from "../render.ts";
import { command } from "../session.ts";

export const list = command<GlobalFlags & SelectFlags, string[]>(
  async (session, flags, ...names) => {
    const { selectFleet } = await import("../fleet.ts");
    const fleet = await selectFleet(session, flags, names, { defaultAll: true, listing: true });
    const machines = fleet.machines;
    if (session.output === "json") {
      for (const m of machines) session.out(JSON.stringify(machineRecord(m)));
      return;
    }
    const header = ["name", "host", "user", "profile", "source", "labels"].map((k) =>
      session.colors.bold(session.format(`machines.column_${k}`))
    );
    const rows = machines.map((m) => [
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

export const check = command<GlobalFlags & FleetFlags, string[]>(
  async (session, flags, ...names) => {
    const { selectFleet } = await import("../fleet.ts");
    const fleet = await selectFleet(session, flags, names, { defaultAll: true });
    // Past --max-failures the rest are not checked: shown as skipped.
    const rows = await checkMachines(fleet.targets, {
      forks: fleet.forks,
      maxFailures: fleet.maxFailures,
      describe: (e) => session.errorLine(e),
      skipped: session.format("fleet.skipped"),
    });
    if (session.output === "json") {
      for (const r of rows) session.out(JSON.stringify(r));
    } else {
      const c = session.colors;
      const header = ["name", "result", "backend", "latency"].map((k) =>
        c.bold(session.format(`machines.column_${k}`))
      );
      session.out(
        table([
          header,
          ...rows.map((r) => [
            r.machine,
            r.ok
              ? c.green(session.format("machines.ok"))
              : r.failed_at === "skipped"
              ? c.yellow(r.error ?? "")
              : c.red(
                session.format("machines.failed_at", {
                  stage: r.failed_at ?? "",
                  error: r.error ?? "",
                }),
              ),
            r.backend ?? "-",
            r.latency_ms === null ? "-" : `${r.latency_ms.toFixed(1)} ms`,
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
