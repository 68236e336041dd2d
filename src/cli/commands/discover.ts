/**
 * provctl discover SOURCE|PROVIDER --dry-run: what a source would yield, fetched now
 * without touching the cache: every record with its id, status, region, the address
 * chosen by connect_with and its labels, plus what was renamed or skipped and why.
 * A provider name previews the inventory's sources of that provider, or, with none, a
 * source with that provider's defaults (token from its usual variable).
 */
import { ExitCode, ProvctlError } from "../../core/errors.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { table } from "../render.ts";
import { command } from "../session.ts";

export interface DiscoverFlags extends GlobalFlags, Pick<FleetFlags, "inventory"> {
  readonly dryRun?: boolean;
}

export default command<DiscoverFlags, [string]>(async (session, flags, name) => {
  if (!flags.dryRun) throw new ProvctlError("Usage", "discovery.discover_needs_dry_run");
  const [{ loadStaticInventory }, { warnFailed }, discovery, inventoryModule, provider] =
    await Promise.all([
      import("../fleet.ts"),
      import("../discovery.ts"),
      import("../../discovery/discover.ts"),
      import("../../fleet/inventory.ts"),
      import("../../discovery/provider.ts"),
    ]);
  let inventory = await loadStaticInventory(session, flags.inventory);
  let sources = discovery.sourcesOf(inventory).filter((s) => s.name === name);
  if (sources.length === 0 && provider.isProviderKind(name)) {
    sources = discovery.sourcesOf(inventory).filter((s) => s.provider === name);
    if (sources.length === 0) {
      // No source of this provider: preview one with its defaults.
      inventory = inventoryModule.parseInventory(
        `[sources.${name}]\nprovider = "${name}"\n`,
        { file: "(discover)", messages: session.messages },
      );
      sources = discovery.sourcesOf(inventory);
    }
  }
  if (sources.length === 0) {
    throw new ProvctlError("NotFound", "discovery.discover_unknown", {
      params: { name: JSON.stringify(name), providers: provider.PROVIDER_KINDS.join(", ") },
      hint: "discovery.source_unknown_hint",
    });
  }
  const env = session.ctx.process.env;
  const results = await Promise.all(
    sources.map((source) =>
      discovery.discoverSource(source, {
        stateDir: session.localStateDir(),
        env,
        home: env.HOME || undefined,
        cache: "off",
        deadlineMs: session.loaded.config.integer("discovery.deadline_ms"),
      })
    ),
  );
  const rows: string[][] = [];
  for (const result of results) {
    warnFailed(session, result);
    for (const record of result.records) {
      const { machine, notes } = discovery.machineOf(result.source, record);
      for (const note of notes) {
        const reason = note.error === undefined ? undefined : session.errorLine(note.error);
        session.note(note.key, { ...note.params, reason });
      }
      if (session.output === "json") {
        session.out(JSON.stringify({
          source: result.source.name,
          provider: result.source.provider,
          id: record.id,
          provider_name: record.name,
          name: machine?.name ?? null,
          address: machine?.host ?? null,
          status: record.status,
          running: record.running,
          region: record.region,
          addresses: record.addresses,
          labels: machine?.labels ?? null,
        }));
      } else {
        rows.push([
          result.source.name,
          shownText(record.id),
          machine?.name ?? "-",
          machine?.host ?? "-",
          shownText(record.status),
          shownText(record.region),
          machine
            ? Object.entries(machine.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-"
            : "-",
        ]);
      }
    }
  }
  if (session.output !== "json") {
    const c = session.colors;
    const header = ["source", "id", "name", "address", "status", "region"].map((k) =>
      c.bold(session.format(`discovery.column_${k}`))
    );
    header.push(c.bold(session.format("machines.column_labels")));
    session.out(table([header, ...rows]).trimEnd());
  }
  return results.every((r) => r.state === "fresh") ? ExitCode.ok : ExitCode.failed;
});

/** Provider text in a table: as is when plain, else JSON-quoted (control characters visible). */
function shownText(text: string): string {
  return /^[A-Za-z0-9_.:\/-]+$/.test(text) ? text : JSON.stringify(text);
}
