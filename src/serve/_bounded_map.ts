/**
 * Remembering per-key state for a server that runs for months: a key a client chooses
 * (a health check's URL, say) must not grow memory without end. The map keeps insertion
 * order, so the oldest entries go first.
 */

/** Sets `key` as the newest entry and drops the oldest ones beyond `max`. */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}
