import assert from "node:assert/strict";
import { AuditLog, MAX_COMMAND_CHARS, parseSince, readAudit } from "../../src/observe/audit_log.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { MASK } from "../../src/observe/redact.ts";

const AUDIT_MODULE = new URL("../../src/observe/audit_log.ts", import.meta.url).href;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "provctl-audit-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function lines(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
}

Deno.test("a new log is created 0600 in a 0700 directory; records carry who, what, when", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state/audit.jsonl`;
    const log = await AuditLog.open(path);
    assert.equal(log.modeTightened, undefined);
    const before = Date.now();
    const record = await log.append({
      machine: "web-1",
      target: "ssh deploy@127.0.0.1:2222",
      op: "exec",
      result: "failed",
      command: "env PASSWORD=hunter2 ./migrate --token abc",
      exitCode: 3,
      durationMs: 12.6,
      attempts: 2,
      deploymentId: "api-42",
      error: "exit status 3",
    });
    await log.close();
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    const stored = (await lines(path)).map((l) => JSON.parse(l));
    assert.deepEqual(stored, [record]);
    const r = stored[0];
    assert.equal(r.machine, "web-1");
    assert.equal(r.op, "exec");
    assert.equal(r.result, "failed");
    assert.equal(r.exit_code, 3);
    assert.equal(r.duration_ms, 13);
    assert.equal(r.attempts, 2);
    assert.equal(r.deployment_id, "api-42");
    assert.equal(r.pid, Deno.pid);
    assert.equal(r.uid, Deno.uid());
    assert.equal(typeof r.operator, "string");
    assert.ok(r.operator.length > 0);
    assert.ok(Date.parse(r.ts) >= before - 1 && r.ts.endsWith("Z"));
    assert.equal(r.command, `env PASSWORD=${MASK} ./migrate --token ${MASK}`);
    assert.ok(!JSON.stringify(r).includes("hunter2"));
  });
});

Deno.test("an existing log readable by others is tightened to 0600 (and says so)", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    await Deno.writeTextFile(path, "");
    await Deno.chmod(path, 0o644);
    const log = await AuditLog.open(path);
    assert.deepEqual(log.modeTightened, { from: 0o644, to: 0o600 });
    await log.close();
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    // Already private: nothing to report.
    const again = await AuditLog.open(path);
    assert.equal(again.modeTightened, undefined);
    await again.close();
  });
});

Deno.test("a directory in place of the log is refused", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/audit.jsonl`);
    await assert.rejects(
      AuditLog.open(`${dir}/audit.jsonl`),
      (e) => isProvctlError(e, "PermissionDenied") && e.key === "trust.type",
    );
  });
});

Deno.test("long commands are cut so a record stays below PIPE_BUF; appends after close fail", async () => {
  await withDir(async (dir) => {
    const log = await AuditLog.open(`${dir}/a.jsonl`);
    const record = await log.append({
      machine: "m",
      op: "exec",
      result: "ok",
      command: "echo " + "x".repeat(10_000),
      error: "e".repeat(5000),
    });
    assert.ok(record.command!.length < MAX_COMMAND_CHARS + 30);
    assert.ok(record.command!.endsWith("…(+7957 chars)"), record.command!.slice(-20));
    assert.ok(new TextEncoder().encode(JSON.stringify(record)).length < 4096);
    await log.close();
    await assert.rejects(log.append({ machine: "m", op: "exec", result: "ok" }));
  });
});

Deno.test("concurrent appends in one process are group-committed, all kept, in order", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a.jsonl`;
    const log = await AuditLog.open(path);
    await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) => log.append({ machine: `m${i}`, op: "exec", result: "ok" }),
      ),
    );
    await log.close();
    const stored = (await lines(path)).map((l) => JSON.parse(l).machine);
    assert.deepEqual(stored, Array.from({ length: 200 }, (_, i) => `m${i}`));
  });
});

Deno.test("20 concurrent processes x 50 records: every line valid JSON, none lost or interleaved", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const script = `
      import { AuditLog } from ${JSON.stringify(AUDIT_MODULE)};
      const id = Deno.args[0];
      const log = await AuditLog.open(${JSON.stringify(path)});
      // Half one by one, half at once (group commit); big and small records mixed.
      for (let i = 0; i < 25; i++) {
        await log.append({ machine: "p" + id, op: "exec", result: "ok", command: "c".repeat(i * 80), attempts: i });
      }
      await Promise.all(Array.from({ length: 25 }, (_, j) => log.append({
        machine: "p" + id, op: "exec", result: "ok", command: "d".repeat(j * 80), attempts: 25 + j })));
      await log.close();
    `;
    const children = Array.from({ length: 20 }, (_, id) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", script, String(id)],
        stdout: "piped",
        stderr: "piped",
      }).output());
    const outputs = await Promise.all(children);
    for (const out of outputs) assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const text = await Deno.readTextFile(path);
    assert.ok(text.endsWith("\n"));
    const all = text.split("\n").slice(0, -1);
    assert.equal(all.length, 1000);
    const seen = new Set<string>();
    for (const line of all) {
      const r = JSON.parse(line); // throws on an interleaved line
      const key = `${r.machine}/${r.attempts}`;
      assert.ok(!seen.has(key), `duplicate ${key}`);
      seen.add(key);
      const letter = r.attempts < 25 ? "c" : "d";
      const n = r.attempts < 25 ? r.attempts : r.attempts - 25;
      assert.equal(r.command, letter.repeat(n * 80));
    }
    assert.equal(seen.size, 1000);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  });
});

Deno.test("a process killed mid-run keeps every record it reported as appended", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const script = `
      import { AuditLog } from ${JSON.stringify(AUDIT_MODULE)};
      const log = await AuditLog.open(${JSON.stringify(path)});
      for (let i = 0; ; i++) {
        await log.append({ machine: "k", op: "exec", result: "ok", attempts: i });
        console.log(i);
      }
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reported: number[] = [];
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    while (reported.length < 30) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      reported.push(...parts.map(Number));
    }
    child.kill("SIGKILL");
    await reader.cancel();
    await child.status;
    assert.ok(reported.length >= 30);
    const stored = new Set((await readAudit(path).toArray()).map((r) => r.attempts));
    for (const i of reported) assert.ok(stored.has(i), `record ${i} was reported but is missing`);
  });
});

Deno.test("a crash-truncated last line is skipped with a count, and the next record starts clean", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const log = await AuditLog.open(path);
    await log.append({ machine: "a", op: "exec", result: "ok" });
    await log.close();
    // Simulate a crash in the middle of a write.
    await Deno.writeTextFile(path, '{"ts":"2024-01-01T00:00:00.000Z","machine":"b","op"', {
      append: true,
    });
    const truncated = readAudit(path);
    assert.deepEqual((await truncated.toArray()).map((r) => r.machine), ["a"]);
    assert.equal(truncated.skipped, 1);
    // Reopening ends the broken line, so the new record is not glued to it.
    const reopened = await AuditLog.open(path);
    await reopened.append({ machine: "c", op: "exec", result: "ok" });
    await reopened.close();
    const after = readAudit(path);
    assert.deepEqual((await after.toArray()).map((r) => r.machine), ["a", "c"]);
    assert.equal(after.skipped, 1);
    // A record glued to a broken line (written by a provctl that did not end it) is recovered.
    await Deno.writeTextFile(
      path,
      'garbage{"ts":"2024-01-01T00:00:00.000Z","machine":"d","op":"exec","result":"ok"}\nnot json\n',
      { append: true },
    );
    const glued = readAudit(path);
    assert.deepEqual((await glued.toArray()).map((r) => r.machine), ["a", "c", "d"]);
    assert.equal(glued.skipped, 2);
  });
});

Deno.test("readAudit filters: since, machine glob, op (with sub-operations), result, deployment, limit", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const log = await AuditLog.open(path);
    const t0 = Date.parse("2024-05-01T10:00:00Z");
    const entries = [
      { machine: "web-1", op: "exec", result: "ok", min: 0 },
      { machine: "web-2", op: "deploy.step", result: "failed", min: 10, deploymentId: "d1" },
      { machine: "db-1", op: "restart", result: "ok", min: 20 },
      { machine: "web-10", op: "deploy", result: "ok", min: 30, deploymentId: "d1" },
      { machine: "web-1", op: "rollback", result: "unreachable", min: 40 },
      { machine: "web-1", op: "deployx", result: "ok", min: 50 },
    ] as const;
    for (const e of entries) {
      await log.append({ ...e, at: new Date(t0 + e.min * 60_000) });
    }
    await log.close();
    const names = async (query: Parameters<typeof readAudit>[1]) =>
      (await readAudit(path, query).toArray()).map((r) => `${r.machine}:${r.op}`);
    const now = new Date(t0 + 60 * 60_000);
    assert.deepEqual(await names({ since: "25m", now }), [
      "web-1:rollback",
      "web-1:deployx",
    ]);
    assert.deepEqual(await names({ since: "2024-05-01T10:15:00Z" }), [
      "db-1:restart",
      "web-10:deploy",
      "web-1:rollback",
      "web-1:deployx",
    ]);
    assert.deepEqual(await names({ since: new Date(t0 + 45 * 60_000) }), ["web-1:deployx"]);
    assert.deepEqual(await names({ machine: "web-?" }), [
      "web-1:exec",
      "web-2:deploy.step",
      "web-1:rollback",
      "web-1:deployx",
    ]);
    assert.deepEqual(await names({ machine: "web-[!1]*" }), ["web-2:deploy.step"]);
    // Several machines (repeated --machine): a record matching any of them.
    assert.deepEqual(await names({ machine: ["db-*", "web-2"] }), [
      "web-2:deploy.step",
      "db-1:restart",
    ]);
    assert.deepEqual(await names({ op: "deploy" }), ["web-2:deploy.step", "web-10:deploy"]);
    assert.deepEqual(await names({ op: "deploy*" }), [
      "web-2:deploy.step",
      "web-10:deploy",
      "web-1:deployx",
    ]);
    assert.deepEqual(await names({ result: "unreachable" }), ["web-1:rollback"]);
    assert.deepEqual(await names({ deploymentId: "d1" }), ["web-2:deploy.step", "web-10:deploy"]);
    assert.deepEqual(await names({ machine: "web-*", limit: 2 }), [
      "web-1:rollback",
      "web-1:deployx",
    ]);
    assert.deepEqual(await names({ limit: 100 }), await names({}));
    assert.deepEqual(await names({ machine: "web-1", op: "exec", since: "1w", now }), [
      "web-1:exec",
    ]);
    // A missing log is an empty one.
    assert.deepEqual(await readAudit(`${dir}/none.jsonl`).toArray(), []);
  });
});

Deno.test("readAudit streams a large log and stops early when the consumer does", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const log = await AuditLog.open(path);
    await Promise.all(
      Array.from(
        { length: 3000 },
        (_, i) => log.append({ machine: `m${i}`, op: "exec", result: "ok" }),
      ),
    );
    await log.close();
    let count = 0;
    for await (const record of readAudit(path)) {
      assert.equal(record.machine, `m${count}`);
      if (++count === 10) break;
    }
    assert.equal(count, 10);
    assert.equal(
      (await readAudit(path, { limit: 3 }).toArray()).map((r) => r.machine).join(),
      "m2997,m2998,m2999",
    );
  });
});

Deno.test("--since values: durations, dates, and clear errors", () => {
  const now = new Date("2024-05-01T12:00:00Z");
  assert.equal(parseSince("90s", now).toISOString(), "2024-05-01T11:58:30.000Z");
  assert.equal(parseSince("1h30m", now).toISOString(), "2024-05-01T10:30:00.000Z");
  assert.equal(parseSince("2d", now).toISOString(), "2024-04-29T12:00:00.000Z");
  assert.equal(parseSince("1w", now).toISOString(), "2024-04-24T12:00:00.000Z");
  assert.equal(parseSince("2024-04-01T00:00:00Z", now).toISOString(), "2024-04-01T00:00:00.000Z");
  assert.equal(
    parseSince("2024-04-01T02:00:00+02:00", now).toISOString(),
    "2024-04-01T00:00:00.000Z",
  );
  assert.ok(!Number.isNaN(parseSince("2024-04-01", now).getTime()));
  for (const bad of ["", "1x", "yesterday", "h", "-1h", "2024-13-45", "1h 30m"]) {
    assert.throws(
      () => parseSince(bad, now),
      (e) => isProvctlError(e, "InvalidArgument") && e.key === "observe.since_invalid",
      bad,
    );
  }
  assert.throws(
    () => readAudit("/nonexistent", { since: "soon" }),
    (e) => isProvctlError(e, "InvalidArgument"),
  );
  for (const limit of [0, -1, 1.5]) {
    assert.throws(
      () => readAudit("/nonexistent", { limit }),
      (e) => isProvctlError(e, "InvalidArgument") && e.key === "observe.limit_invalid",
    );
  }
});

Deno.test("rotation by size: two provctl processes appending concurrently lose no record; readers read every file in order", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const writer = new URL("./fixtures/audit_writer.ts", import.meta.url).pathname;
    const COUNT = 1500;
    const spawn = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", writer, path, String(COUNT), "16384", "1000"],
        stdout: "null",
        stderr: "piped",
      }).output();
    const results = await Promise.all([spawn(), spawn()]);
    for (const r of results) assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const rotated = [...Deno.readDirSync(dir)].filter((e) => /^audit\.jsonl\.\d+$/.test(e.name));
    assert.ok(rotated.length >= 10, `${rotated.length} rotations`);
    for (const e of rotated) {
      const size = Deno.statSync(`${dir}/${e.name}`).size;
      assert.ok(size < 16384 + 8192, `${e.name}: ${size} bytes`);
    }
    const reader = readAudit(path);
    const records = await reader.toArray();
    assert.equal(reader.skipped, 0);
    assert.equal(records.length, 2 * COUNT, "every record of both writers");
    const byWriter = new Map<string, number[]>();
    for (const r of records) {
      const seqs = byWriter.get(r.machine) ?? [];
      seqs.push(Number(r.command!.slice(4)));
      byWriter.set(r.machine, seqs);
    }
    assert.equal(byWriter.size, 2);
    for (const seqs of byWriter.values()) {
      // Oldest file first: each writer's records in the order it wrote them.
      assert.deepEqual(seqs, Array.from({ length: COUNT }, (_, i) => i));
    }
  });
});

Deno.test("rotation keeps `keep` files: the oldest go, the rest read in order", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const log = await AuditLog.open(path, { maxBytes: 4096, keep: 2 });
    for (let i = 0; i < 300; i++) {
      await log.append({ machine: "m", op: "exec", result: "ok", command: `seq ${i}` });
    }
    await log.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("audit"))
      .sort();
    assert.deepEqual(names, ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.lock"]);
    const seqs = (await readAudit(path).toArray()).map((r) => Number(r.command!.slice(4)));
    assert.ok(seqs.length < 300 && seqs.length > 20);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => 300 - seqs.length + i));
  });
});
