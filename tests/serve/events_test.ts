import assert from "node:assert/strict";
import { EVENT_QUEUE_MAX_BYTES, EventHub, eventStream } from "../../src/serve/events.ts";

Deno.test("the ring replays what a client missed, or says reset when it is gone", () => {
  const hub = new EventHub(3);
  for (let i = 1; i <= 5; i++) hub.publish("service", "started", { n: i });
  assert.deepEqual(hub.since(undefined), { reset: false, resumeFrom: 5, events: [] });
  const recent = hub.since(3);
  assert.equal(recent.reset, false);
  assert.deepEqual(recent.events.map((e) => e.id), [4, 5]);
  assert.deepEqual(hub.since(2).events.map((e) => e.id), [3, 4, 5]);
  assert.equal(hub.since(2).reset, false);
  const old = hub.since(1);
  assert.equal(old.reset, true);
  assert.equal(old.resumeFrom, 2);
  assert.deepEqual(old.events.map((e) => e.id), [3, 4, 5]);
  // An id from an earlier server run (ahead of this one) is as unknown as an old one.
  assert.equal(hub.since(99).reset, true);
});

Deno.test("a stream replays, then goes live, filtered by topic, and ends on abort", async () => {
  const hub = new EventHub(10);
  hub.publish("deploy", "batch_start", {});
  hub.publish("health", "result", {});
  const abort = new AbortController();
  const stream = eventStream(hub, {
    topics: new Set(["deploy"]),
    lastId: 0,
    heartbeatMs: 60_000,
    signal: abort.signal,
  });
  hub.publish("deploy", "host_done", {});
  hub.publish("audit", "record", {});
  setTimeout(() => abort.abort(), 50);
  const text = await new Response(stream).text();
  assert.deepEqual([...text.matchAll(/^id: (\d+)\nevent: (\w+)/gm)].map((m) => [m[1], m[2]]), [
    ["1", "deploy"],
    ["3", "deploy"],
  ]);
  assert.equal(hub.listeners, 0);
});

Deno.test("a subscriber that stops reading is dropped with a notice, not buffered", async () => {
  const hub = new EventHub(1000);
  const abort = new AbortController();
  const stream = eventStream(hub, {
    topics: new Set(["operation"]),
    heartbeatMs: 60_000,
    signal: abort.signal,
  });
  // 40 MB of events (exec output can be large) while nobody reads.
  const output = "x".repeat(100_000);
  for (let i = 0; i < 400; i++) hub.publish("operation", "machine", { stdout: output });
  // Dropped already: the hub no longer feeds it.
  assert.equal(hub.listeners, 0);
  const timer = setTimeout(() => abort.abort(), 2000);
  const text = await new Response(stream).text();
  clearTimeout(timer);
  assert.ok(text.length < EVENT_QUEUE_MAX_BYTES + 200_000, `${text.length} bytes were queued`);
  const ids = [...text.matchAll(/^id: (\d+)\nevent: operation/gm)].map((m) => Number(m[1]));
  assert.ok(ids.length > 0);
  assert.deepEqual(ids, ids.map((_, i) => i + 1), "the events before the drop, in order");
  const last = /event: dropped\ndata: (.*)\n\n$/.exec(text);
  assert.ok(last, `no dropped notice at the end: ${text.slice(-200)}`);
  assert.deepEqual(JSON.parse(last[1]), {
    reason: "client_too_slow",
    last_event_id: ids[ids.length - 1],
  });
  // Resuming from there replays the rest.
  assert.equal(hub.since(ids[ids.length - 1]).events.length, 400 - ids.length);
});

Deno.test("a resume whose replay alone is too much is dropped and leaves nothing behind", async () => {
  const hub = new EventHub(1000);
  const output = "x".repeat(100_000);
  for (let i = 0; i < 100; i++) hub.publish("operation", "machine", { stdout: output });
  const abort = new AbortController();
  const stream = eventStream(hub, {
    topics: new Set(["operation"]),
    lastId: 0,
    heartbeatMs: 50,
    signal: abort.signal,
    maxQueuedBytes: 1_000_000,
  });
  // Dropped while replaying: no subscription, heartbeat or abort listener stays behind
  // (the test's op and resource sanitizers see a leaked interval).
  assert.equal(hub.listeners, 0);
  const text = await new Response(stream).text();
  const last = /event: dropped\ndata: (.*)\n\n$/.exec(text);
  assert.ok(last, `no dropped notice at the end: ${text.slice(-200)}`);
  const resumeFrom = JSON.parse(last[1]).last_event_id;
  const ids = [...text.matchAll(/^id: (\d+)\nevent: operation/gm)].map((m) => Number(m[1]));
  assert.equal(resumeFrom, ids[ids.length - 1]);
  assert.ok(resumeFrom < 100);
});

Deno.test("a resume past an event larger than the bound makes progress (no reconnect loop)", async () => {
  const hub = new EventHub(1000);
  hub.publish("operation", "machine", { stdout: "x".repeat(300_000) });
  hub.publish("operation", "machine", { stdout: "small" });
  let lastId = 0;
  const seen: number[] = [];
  // As an EventSource would: reconnect with the last id it got, a few times at most.
  for (let attempt = 0; attempt < 3 && !seen.includes(2); attempt++) {
    const abort = new AbortController();
    const stream = eventStream(hub, {
      topics: new Set(["operation"]),
      lastId,
      heartbeatMs: 60_000,
      signal: abort.signal,
      maxQueuedBytes: 100_000,
    });
    const reader = stream.getReader();
    let text = "";
    const decoder = new TextDecoder();
    while (!/event: dropped|"small"/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    abort.abort();
    await reader.cancel();
    for (const m of text.matchAll(/^id: (\d+)\nevent: operation/gm)) seen.push(Number(m[1]));
    lastId = seen.length > 0 ? seen[seen.length - 1] : lastId;
  }
  assert.deepEqual(seen, [1, 2]);
});
