/**
 * The event stream behind GET /events: numbered events kept in a bounded ring, so a
 * client that reconnects with Last-Event-ID gets what it missed; when its id has left
 * the ring it gets a `reset` event first (then the whole ring) and knows to reload.
 */

export const TOPICS = ["operation", "service", "health", "deploy", "audit"] as const;
export type Topic = (typeof TOPICS)[number];

export interface StreamEvent {
  readonly id: number;
  readonly topic: Topic;
  readonly type: string;
  readonly at: string;
  readonly data: Readonly<Record<string, unknown>>;
}

type Listener = (event: StreamEvent) => void;

export class EventHub {
  readonly #ring: StreamEvent[] = [];
  readonly #size: number;
  readonly #listeners = new Set<Listener>();
  #next = 1;

  constructor(size: number) {
    this.#size = size;
  }

  publish(topic: Topic, type: string, data: Record<string, unknown>): StreamEvent {
    const event: StreamEvent = {
      id: this.#next++,
      topic,
      type,
      at: new Date().toISOString(),
      data,
    };
    this.#ring.push(event);
    if (this.#ring.length > this.#size) this.#ring.shift();
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /**
   * Events after `lastId` still in the ring; `reset` when some of them are gone (then
   * `events` is the whole ring). Undefined lastId: nothing to replay.
   */
  since(lastId: number | undefined): { reset: boolean; resumeFrom: number; events: StreamEvent[] } {
    if (lastId === undefined) return { reset: false, resumeFrom: this.#next - 1, events: [] };
    const oldest = this.#ring[0]?.id ?? this.#next;
    // Ids from a previous server run (larger than any here) are as unknown as old ones.
    if (lastId < oldest - 1 || lastId >= this.#next) {
      return { reset: true, resumeFrom: oldest - 1, events: [...this.#ring] };
    }
    return { reset: false, resumeFrom: lastId, events: this.#ring.filter((e) => e.id > lastId) };
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listeners(): number {
    return this.#listeners.size;
  }
}

const encoder = new TextEncoder();

export function sseFrame(event: StreamEvent): Uint8Array {
  return encoder.encode(
    `id: ${event.id}\nevent: ${event.topic}\ndata: ${JSON.stringify(event)}\n\n`,
  );
}

/** What may wait unread for one subscriber before it is dropped (frames can carry output). */
export const EVENT_QUEUE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * An SSE response body: replay, then live events of `topics`, heartbeats, until the
 * client goes away or `closed` aborts. A client that stops reading (more than
 * `maxQueuedBytes` waiting) gets a last `dropped` event and is disconnected; it can
 * resume with Last-Event-ID.
 */
export function eventStream(hub: EventHub, options: {
  topics: ReadonlySet<Topic>;
  lastId?: number;
  heartbeatMs: number;
  signal: AbortSignal;
  maxQueuedBytes?: number;
}): ReadableStream<Uint8Array> {
  const maxQueued = options.maxQueuedBytes ?? EVENT_QUEUE_MAX_BYTES;
  let cleanup = () => {};
  // The id of the last event queued: where a dropped client resumes from.
  let lastQueued = 0;
  let tookEvent = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true;
      const close = () => {
        if (!open) return;
        open = false;
        cleanup();
        try {
          controller.close();
        } catch { /* already closed */ }
      };
      const send = (bytes: Uint8Array, id?: number) => {
        if (!open) return;
        // desiredSize is minus the bytes waiting (high-water mark 0); an empty queue always
        // takes the next frame, however large, and so does a stream's first event (behind
        // the opening lines): a resume always gets past an event larger than the bound.
        const waiting = -(controller.desiredSize ?? 0);
        const first = id !== undefined && !tookEvent;
        if (waiting > 0 && waiting + bytes.length > maxQueued && !first) {
          controller.enqueue(encoder.encode(
            `event: dropped\ndata: ${
              JSON.stringify({ reason: "client_too_slow", last_event_id: lastQueued })
            }\n\n`,
          ));
          return close();
        }
        controller.enqueue(bytes);
        if (id !== undefined) {
          lastQueued = id;
          tookEvent = true;
        }
      };
      const wanted = (e: StreamEvent) => options.topics.has(e.topic);
      // Subscribe before replaying so nothing published in between is lost.
      const pending: StreamEvent[] = [];
      let replaying = true;
      const unsubscribe = hub.subscribe((e) => {
        if (!wanted(e)) return;
        if (replaying) pending.push(e);
        else send(sseFrame(e), e.id);
      });
      cleanup = unsubscribe;
      const replay = hub.since(options.lastId);
      lastQueued = replay.resumeFrom;
      // The retry hint and a comment open the stream at once (proxies, EventSource).
      send(encoder.encode(`retry: 2000\n: provctl events\n\n`));
      if (replay.reset) {
        send(encoder.encode(
          `id: ${replay.resumeFrom}\nevent: reset\ndata: ${
            JSON.stringify({ reason: "last_event_id_unknown", last_event_id: options.lastId })
          }\n\n`,
        ));
      }
      let sent = replay.resumeFrom;
      for (const e of replay.events) {
        if (wanted(e)) send(sseFrame(e), e.id);
        sent = e.id;
      }
      replaying = false;
      for (const e of pending) if (e.id > sent) send(sseFrame(e), e.id);
      // Dropped while replaying (a resume from far back): unsubscribed, nothing to start.
      if (!open) return;
      const heartbeat = setInterval(
        () => send(encoder.encode(`: heartbeat ${new Date().toISOString()}\n\n`)),
        options.heartbeatMs,
      );
      const onAbort = () => close();
      options.signal.addEventListener("abort", onAbort);
      cleanup = () => {
        unsubscribe();
        clearInterval(heartbeat);
        options.signal.removeEventListener("abort", onAbort);
      };
      if (options.signal.aborted) close();
    },
    cancel() {
      cleanup();
    },
  }, { highWaterMark: 0, size: (chunk) => chunk.byteLength });
}
