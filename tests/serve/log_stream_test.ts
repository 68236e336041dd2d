import assert from "node:assert/strict";
import { sinkStream } from "../../src/serve/_log_stream.ts";

const LINE = new TextEncoder().encode("x".repeat(1023) + "\n");

function stream(produce: Parameters<typeof sinkStream>[0]["produce"]) {
  let ended = 0;
  const body = sinkStream({
    highWaterBytes: 64 * 1024,
    maxQueuedBytes: 1024 * 1024,
    overflowLine: "provctl: too slow",
    closing: new AbortController().signal,
    produce,
    onError: (error) => {
      throw error;
    },
    onEnd: () => ended++,
  });
  return { body, ended: () => ended };
}

Deno.test("a producer that waits is held back while nobody reads, then gives everything", async () => {
  let written = 0;
  const { body, ended } = stream(async (sink) => {
    for (let i = 0; i < 10_000; i++) {
      await sink(LINE);
      written++;
    }
  });
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(written <= 64 + 1, `${written} KiB written for an unread stream`);
  const text = await new Response(body).text();
  assert.equal(text.length, 10_000 * 1024);
  assert.equal(ended(), 1);
});

Deno.test("a producer that does not wait is cut off past the bound with a last line", async () => {
  let aborted = false;
  const { body, ended } = stream((sink, signal) => {
    signal.addEventListener("abort", () => aborted = true);
    // 10 MiB at once, in pieces of lines: the notice starts on a line of its own.
    for (let i = 0; i < 10 * 1024; i++) void sink(LINE.subarray(0, 1000));
    return Promise.resolve();
  });
  const text = await new Response(body).text();
  assert.ok(text.length < 1024 * 1024 + 64 * 1024 + 2048, `${text.length} bytes queued`);
  assert.ok(text.endsWith("x\nprovctl: too slow\n"), text.slice(-40));
  assert.ok(aborted, "the producer is told to stop");
  assert.equal(ended(), 1);
});
