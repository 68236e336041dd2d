/**
 * AuditShipper on a real audit log: what it sends and when its mark moves. The store is
 * a list here (the PostgreSQL store is covered in postgres_backend_test.ts and
 * shared_state_test.ts); what matters is order, the backlog and the mark.
 */
import assert from "node:assert/strict";
import { AuditLog, type AuditRecord } from "../../src/observe/audit_log.ts";
import { AuditShipper } from "../../src/state/audit_shipper.ts";

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "provctl-ship-" });
  const file = `${dir}/audit.jsonl`;
  const received: AuditRecord[] = [];
  let down = false;
  const events: string[] = [];
  const shipper = (target = "db1") =>
    new AuditShipper({
      auditFile: file,
      target,
      retryMs: 50,
      send: (records) => {
        if (down) return Promise.reject(new Error("connection refused"));
        received.push(...records);
        return Promise.resolve();
      },
      onOffline: () => events.push("offline"),
      onOnline: (n) => events.push(`online ${n}`),
    });
  const append = async (n: number, from = 0) => {
    const log = await AuditLog.open(file);
    for (let i = 0; i < n; i++) {
      await log.append({ machine: `m${from + i}`, op: "exec", result: "ok" });
    }
    await log.close();
  };
  return {
    dir,
    file,
    received,
    events,
    shipper,
    append,
    setDown: (v: boolean) => down = v,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("shipper: sends in file order, only whole lines, and moves its 0600 mark", async () => {
  const t = await setup();
  try {
    const s = t.shipper();
    assert.equal(await s.backlog(), 0, "no log yet: nothing to send");
    await t.append(3);
    assert.equal(await s.backlog(), 3);
    await s.ship();
    assert.deepEqual(t.received.map((r) => r.machine), ["m0", "m1", "m2"]);
    assert.equal(await s.backlog(), 0);
    assert.equal((await Deno.stat(s.markFile)).mode! & 0o777, 0o600);
    // A line still being written is left for later.
    const half = JSON.stringify({ id: "x", ts: new Date().toISOString(), machine: "late" });
    await Deno.writeTextFile(t.file, half.slice(0, 20), { append: true });
    await s.ship();
    assert.equal(t.received.length, 3);
    await Deno.writeTextFile(t.file, half.slice(20) + "\n", { append: true });
    await s.ship();
    assert.deepEqual(t.received.map((r) => r.machine), ["m0", "m1", "m2", "late"]);
    // A new shipper (the next provctl run) starts at the mark: nothing is sent twice.
    await t.append(1, 3);
    const next = t.shipper();
    await next.ship();
    assert.deepEqual(t.received.map((r) => r.machine).slice(-2), ["late", "m3"]);
    assert.equal(new Set(t.received.map((r) => r.id)).size, t.received.length);
    await s.close();
    await next.close();
  } finally {
    await t.cleanup();
  }
});

Deno.test("shipper: an outage keeps a backlog, retries, then sends it once, in order", async () => {
  const t = await setup();
  try {
    const s = t.shipper();
    await t.append(2);
    await s.ship();
    t.setDown(true);
    await t.append(3, 2);
    await s.ship();
    assert.equal(s.offline, true);
    assert.deepEqual(t.events, ["offline"]);
    await s.ship(); // offline: returns at once, no second warning
    assert.deepEqual(t.events, ["offline"]);
    assert.equal(await s.backlog(), 3);
    t.setDown(false);
    // The retry timer sends the backlog without anyone calling ship().
    const deadline = Date.now() + 5000;
    while (s.offline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.offline, false);
    assert.deepEqual(t.events, ["offline", "online 3"]);
    assert.deepEqual(t.received.map((r) => r.machine), ["m0", "m1", "m2", "m3", "m4"]);
    assert.equal(await s.backlog(), 0);
    await s.close();
  } finally {
    await t.cleanup();
  }
});

Deno.test("shipper: a replaced log or another database starts from the beginning", async () => {
  const t = await setup();
  try {
    await t.append(2);
    await t.shipper().close();
    assert.equal(t.received.length, 2);
    // Another database: everything goes there too.
    await t.shipper("db2").close();
    assert.equal(t.received.length, 4);
    // The log was rotated (a new file): its records are new.
    await Deno.rename(t.file, `${t.file}.1`);
    await t.append(1, 9);
    await t.shipper("db2").close();
    assert.deepEqual(t.received.map((r) => r.machine), ["m0", "m1", "m0", "m1", "m9"]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("shipper: records rotated away while the store is down are still sent, once, in order", async () => {
  const t = await setup();
  try {
    const s = t.shipper();
    await t.append(2);
    await s.ship();
    assert.equal(t.received.length, 2);
    t.setDown(true);
    // Small files: the log rotates every few records while nothing can be shipped.
    const log = await AuditLog.open(t.file, { maxBytes: 400, keep: 20 });
    for (let i = 2; i < 14; i++) {
      await log.append({ machine: `m${i}`, op: "exec", result: "ok" });
      await s.ship();
    }
    await log.close();
    assert.ok(await Deno.stat(`${t.file}.3`), "the log rotated several times");
    assert.equal(t.received.length, 2, "nothing was sent while the store was down");
    assert.equal(await s.backlog(), 12);
    t.setDown(false);
    await s.ship({ wait: true });
    const machines = Array.from({ length: 14 }, (_, i) => `m${i}`);
    assert.deepEqual(t.received.map((r) => r.machine), machines);
    assert.equal(new Set(t.received.map((r) => r.id)).size, 14, "no record twice");
    assert.equal(await s.backlog(), 0);
    await s.close();
    assert.equal(t.received.length, 14);
  } finally {
    await t.cleanup();
  }
});

Deno.test("shipper: a log rotating while each write's ship is pending loses and repeats nothing", async () => {
  const t = await setup();
  try {
    let sends = 0;
    const slow = new AuditShipper({
      auditFile: t.file,
      target: "db1",
      waitMs: 5,
      send: async (records) => {
        sends++;
        // The store answers after the writer has gone on (and rotated the file).
        await new Promise((resolve) => setTimeout(resolve, 15));
        t.received.push(...records);
      },
    });
    const log = await AuditLog.open(t.file, {
      maxBytes: 350,
      keep: 50,
      afterWrite: () => slow.ship(),
    });
    await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) => log.append({ machine: `m${i}`, op: "exec", result: "ok" }),
      ),
    );
    for (let i = 30; i < 40; i++) await log.append({ machine: `m${i}`, op: "exec", result: "ok" });
    await log.close();
    await slow.close();
    assert.ok(await Deno.stat(`${t.file}.3`), "the log rotated while ships were pending");
    assert.ok(sends > 1);
    const ids = t.received.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, "no record twice");
    const machines = t.received.map((r) => r.machine).sort();
    assert.deepEqual(machines, Array.from({ length: 40 }, (_, i) => `m${i}`).sort());
    assert.equal(await slow.backlog(), 0);
  } finally {
    await t.cleanup();
  }
});
