/**
 * A response body fed by a producer that writes through a sink (a backend's `logs`),
 * with backpressure: once `highWaterBytes` wait unread, the sink's promise holds the
 * producer back until the client reads, so a slow or stalled client pauses the source
 * (a tail blocks on its pipe) instead of having the log's growth buffered here.
 * A producer that writes without waiting (a source that cannot pause) is bounded: past
 * `maxQueuedBytes` unread, the stream gets `overflowLine` as its last line and ends.
 */
import type { LogSink } from "../backends/backend.ts";

export interface SinkStreamOptions {
  readonly highWaterBytes: number;
  readonly maxQueuedBytes: number;
  /** The last line of a stream ended because the client did not keep up. */
  readonly overflowLine: string;
  /** Ends the stream (server shutdown). */
  readonly closing: AbortSignal;
  /** Runs the source; `signal` aborts when the client goes or the stream ends. */
  produce(sink: LogSink, signal: AbortSignal): Promise<void>;
  /** The producer failed while the stream was still wanted. */
  onError(error: unknown): void;
  /** Called once when the producer has ended (for cleanup). */
  onEnd(): void;
}

export function sinkStream(options: SinkStreamOptions): ReadableStream<Uint8Array> {
  const abort = new AbortController();
  let wake: (() => void) | undefined;
  const resume = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stop = () => {
    abort.abort();
    resume();
  };
  let open = true;
  let atLineStart = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const end = () => {
        if (!open) return;
        open = false;
        try {
          controller.close();
        } catch { /* cancelled */ }
      };
      const sink: LogSink = (chunk) => {
        if (!open || abort.signal.aborted) return;
        const room = controller.desiredSize ?? 0;
        // Written while asked to wait: count it against the hard bound.
        if (room <= 0 && options.highWaterBytes - room + chunk.length > options.maxQueuedBytes) {
          const line = `${atLineStart ? "" : "\n"}${options.overflowLine}\n`;
          controller.enqueue(new TextEncoder().encode(line));
          end();
          stop();
          return;
        }
        controller.enqueue(chunk);
        if (chunk.length > 0) atLineStart = chunk[chunk.length - 1] === 0x0a;
        if ((controller.desiredSize ?? 0) > 0) return;
        return new Promise<void>((resolve) => {
          const previous = wake;
          wake = () => {
            previous?.();
            resolve();
          };
        });
      };
      options.closing.addEventListener("abort", stop);
      if (options.closing.aborted) stop();
      options.produce(sink, abort.signal).catch((error) => {
        if (!abort.signal.aborted) options.onError(error);
      }).finally(() => {
        options.closing.removeEventListener("abort", stop);
        resume();
        options.onEnd();
        end();
      });
    },
    pull() {
      resume();
    },
    cancel() {
      open = false;
      stop();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: options.highWaterBytes }));
}
