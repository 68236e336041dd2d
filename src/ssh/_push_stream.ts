/**
 * A ReadableStream fed by pushes: ssh2 channels (and the keeper's socket) are Node-style
 * streams. Chunks are copied, since ssh2 may reuse its buffers.
 */
export function pushStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let finished = false;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return {
    stream,
    push(chunk: Uint8Array) {
      if (!finished) controller.enqueue(new Uint8Array(chunk));
    },
    close() {
      if (finished) return;
      finished = true;
      try {
        controller.close();
      } catch { /* reader cancelled */ }
    },
    error(error: unknown) {
      if (finished) return;
      finished = true;
      controller.error(error);
    },
  };
}
