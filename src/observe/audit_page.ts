/**
 * Pages of the audit log for the API: newest first, `limit` records per page, and a
 * cursor that names where the next (older) page starts. The cursor counts matching
 * records from the start of the log, so pages stay stable while new records are added.
 */
import { type AuditQuery, type AuditRecord, readAudit } from "./audit_log.ts";

export interface AuditPage {
  readonly records: AuditRecord[];
  /** Pass as `cursor` for the next, older page; null on the last page. */
  readonly next_cursor: string | null;
}

/**
 * `source`: the audit log's path (filtered here by `query`), or the records of a shared
 * store already matching it, oldest first.
 */
export async function auditPage(
  source: string | Iterable<AuditRecord> | AsyncIterable<AuditRecord>,
  query: Omit<AuditQuery, "limit">,
  page: { limit: number; before?: number },
): Promise<AuditPage> {
  const ring: { index: number; record: AuditRecord }[] = [];
  let index = 0;
  const records = typeof source === "string" ? readAudit(source, query) : source;
  for await (const record of records) {
    if (page.before !== undefined && index >= page.before) break;
    ring.push({ index, record });
    if (ring.length > page.limit) ring.shift();
    index++;
  }
  const first = ring[0]?.index ?? 0;
  return {
    records: ring.map((r) => r.record).reverse(),
    next_cursor: first > 0 ? String(first) : null,
  };
}
