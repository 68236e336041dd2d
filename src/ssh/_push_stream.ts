/**
 * A ReadableStream fed by pushes: ssh2 channels (and the keeper's socket) are Node-style
 * streams. Chunks are copied, since ssh2 may reuse its buffers.
 *
 * Backpressure: once `highWaterBytes` wait unread, `pause` is called (an ssh2 channel
 * stops taking data, so its window closes and the remote program blocks on its output)
 * and `ready()` waits; when the reader takes enough, `resume` is called and `ready()`
 * resolves. A reader that cancels unpauses the source (what comes then is dropped).
 * `release()` ends the backpressure for good (a killed program's last output is taken
 * in, so its exit is seen whether or not anyone reads).
 */
export interface PushStreamOptions {
  readonly highWaterBytes?: number;
  readonly pause?: () => void;
  readonly resume?: () => void;
}

/** What waits unread before a push stream asks its source to pause. */
export const PUSH_HIGH_WATER_BYTES = 1024 * 1024;

export function pushStream(options: PushStreamOptions = {}) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let finished = false;
  let paused = false;
  let released = false;
  let waiters: (() => void)[] = [];
  const unpause = () => {
    if (paused) {
      paused = false;
      options.resume?.();
    }
    const wake = waiters;
    waiters = [];
    for (const w of wake) w();
  };
  const full = () => !finished && !released && (controller.desiredSize ?? 1) <= 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      start: (c) => void (controller = c),
      pull: () => unpause(),
      cancel: () => {
        finished = true;
        unpause();
      },
    },
    new ByteLengthQueuingStrategy({
      highWaterMark: options.highWaterBytes ?? PUSH_HIGH_WATER_BYTES,
    }),
  );
  return {
    stream,
    push(chunk: Uint8Array) {
      if (finished) return;
      controller.enqueue(new Uint8Array(chunk));
      if (full() && !paused) {
        paused = true;
        options.pause?.();
      }
    },
    /** Resolves once the queue is below the high-water mark (or the stream is done). */
    ready(): Promise<void> {
      return full() ? new Promise((resolve) => waiters.push(resolve)) : Promise.resolve();
    },
    /** Never pauses the source again; what it sends from now on is queued unread. */
    release() {
      released = true;
      unpause();
    },
    close() {
      if (finished) return;
      finished = true;
      unpause();
      try {
        controller.close();
      } catch { /* reader cancelled */ }
    },
    error(error: unknown) {
      if (finished) return;
      finished = true;
      unpause();
      controller.error(error);
    },
  };
}
