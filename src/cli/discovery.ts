/**
 * Cloud discovery for commands: runs src/discovery with the session's state dir and
 * environment, warns about failed sources on stderr, and shows retries and the tag/name
 * notes with -v. Loaded only when the inventory has `[sources.*]`.
 */
import {
  type CacheMode,
  type Discovered,
  discoverInventory,
  type SourceResult,
} from "../discovery/discover.ts";
import type { Inventory } from "../fleet/inventory.ts";
import type { Session } from "./session.ts";

export async function discoverWithSession(
  session: Session,
  inventory: Inventory,
  options: { cache: CacheMode; only?: readonly string[]; quietFailures?: boolean },
): Promise<Discovered> {
  const env = session.ctx.process.env;
  const discovered = await discoverInventory(inventory, {
    stateDir: session.localStateDir(),
    env,
    home: env.HOME || undefined,
    cache: options.cache,
    only: options.only,
    deadlineMs: session.loaded.config.integer("discovery.deadline_ms"),
    onRetry: (source, info) =>
      session.debug(
        session.format("discovery.retrying", {
          source,
          status: info.status,
          url: info.url,
          attempt: info.attempt,
          ms: Math.round(info.delayMs),
        }),
      ),
  });
  if (!options.quietFailures) {
    for (const result of discovered.results) warnFailed(session, result);
  }
  for (const note of discovered.notes) {
    const reason = note.error === undefined ? undefined : session.errorLine(note.error);
    session.debug(session.format(note.key, { ...note.params, reason }));
  }
  return discovered;
}

/** The stderr warning for a source that failed (stale or failed). */
export function warnFailed(session: Session, result: SourceResult): void {
  if (result.state !== "stale" && result.state !== "failed") return;
  const error = session.errorLine(result.error);
  if (result.state === "stale") {
    session.warn({
      key: "discovery.source_stale",
      params: {
        source: result.source.name,
        count: result.records.length,
        age: age(Date.now() - Date.parse(result.fetchedAt ?? "")),
        error,
      },
    });
  } else {
    session.warn({ key: "discovery.source_failed", params: { source: result.source.name, error } });
  }
}

/** 45s, 12m, 3h, 2d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
