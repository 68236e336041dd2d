/**
 * Fans events out between `provctl serve` instances sharing a postgres state backend:
 * each event published here is NOTIFYed on the database, and each one another instance
 * NOTIFYed is published here, so every instance's /events carries every operation.
 * NOTIFY payloads are limited (8000 bytes): a larger event goes out without its data
 * beyond the ids, marked `truncated`.
 */
import type { StateBackend } from "../state/backend.ts";
import { type EventHub, type Topic, TOPICS } from "./events.ts";

interface Wire {
  readonly origin: string;
  readonly topic: Topic;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

interface Notifier {
  notify(payload: string): Promise<void>;
  listen(fn: (payload: string) => void): Promise<() => Promise<void>>;
}

const MAX_PAYLOAD = 7900;

/** Starts relaying (postgres only; a no-op for files); returns "stop". */
export async function relayEvents(
  hub: EventHub,
  state: StateBackend,
): Promise<() => Promise<void>> {
  const db = state as Partial<Notifier>;
  if (state.name !== "postgres" || !db.notify || !db.listen) return () => Promise.resolve();
  const notifier = db as Notifier;
  const origin = crypto.randomUUID();
  let relaying = false;
  const unlisten = await notifier.listen((payload) => {
    let wire: Wire;
    try {
      wire = JSON.parse(payload);
    } catch {
      return;
    }
    if (wire.origin === origin || !(TOPICS as readonly string[]).includes(wire.topic)) return;
    relaying = true;
    try {
      hub.publish(wire.topic, String(wire.type), { ...wire.data, origin: wire.origin });
    } finally {
      relaying = false;
    }
  });
  const unsubscribe = hub.subscribe((event) => {
    if (relaying) return; // came from another instance: it already told everyone
    let payload = JSON.stringify({
      origin,
      topic: event.topic,
      type: event.type,
      data: event.data,
    });
    if (new TextEncoder().encode(payload).length > MAX_PAYLOAD) {
      const d = event.data as Record<string, unknown>;
      const ids = Object.fromEntries(
        ["id", "deployment", "deployment_id", "machine"].filter((k) => typeof d[k] === "string")
          .map((k) => [k, d[k]]),
      );
      payload = JSON.stringify({
        origin,
        topic: event.topic,
        type: event.type,
        data: { ...ids, truncated: true },
      });
    }
    notifier.notify(payload).catch(() => {/* database away: other instances miss it */});
  });
  return async () => {
    unsubscribe();
    await unlisten();
  };
}
