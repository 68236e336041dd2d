import assert from "node:assert/strict";
import {
  DEFAULT_BUCKETS,
  loadMetrics,
  mergeSnapshots,
  MetricsCollector,
  type MetricsSnapshot,
  OPERATION_DURATION_SECONDS,
  OPERATIONS_TOTAL,
  persistMetrics,
  renderPrometheus,
  resetMetrics,
} from "../../src/observe/metrics.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { isProvctlError } from "../../src/core/errors.ts";

const METRICS_MODULE = new URL("../../src/observe/metrics.ts", import.meta.url).href;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "provctl-metrics-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// --- A small parser of the Prometheus text format, independent of the renderer. ---

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const n = Number(text);
  assert.ok(text !== "" && !Number.isNaN(n), `bad value ${text}`);
  return n;
}

function parseProm(text: string): Parsed {
  const parsed: Parsed = { help: new Map(), type: new Map(), samples: [] };
  assert.ok(text === "" || text.endsWith("\n"), "must end with a newline");
  for (const line of text.split("\n").slice(0, -1)) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      parsed.help.set(m[1], m[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c)));
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      assert.ok(!parsed.type.has(m[1]), `second TYPE for ${m[1]}`);
      parsed.type.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const body = m[2].slice(1, -1);
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let at = 0;
      while (at < body.length) {
        re.lastIndex = at;
        const l = re.exec(body);
        assert.ok(l, `bad labels in ${line}`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
        at = re.lastIndex;
      }
    }
    const name = m[1];
    const family = name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(parsed.type.has(name) || parsed.type.has(family), `sample before TYPE: ${line}`);
    parsed.samples.push({ name, labels, value: parseValue(m[3]) });
  }
  return parsed;
}

function sample(p: Parsed, name: string, labels: Record<string, string>): number | undefined {
  const key = JSON.stringify(Object.entries(labels).sort());
  return p.samples.find((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === key
  )?.value;
}

Deno.test("Prometheus text: exact output with HELP/TYPE, label escaping, histogram series", () => {
  const m = new MetricsCollector();
  const c = m.counter("t_requests_total", "Requests\\handled.\nSecond line.", ["path"]);
  c.inc({ path: 'a"b\\c\nd' }, 2);
  c.inc({ path: "/" });
  m.gauge("t_in_flight", "In flight.").set(undefined, 3);
  const h = m.histogram("t_latency_seconds", "Latency.", { labelNames: ["op"], buckets: [0.1, 1] });
  h.observe({ op: "x" }, 0.05);
  h.observe({ op: "x" }, 0.1); // on a bound: counted in le="0.1"
  h.observe({ op: "x" }, 5);
  assert.equal(
    renderPrometheus(m.snapshot()),
    [
      "# HELP t_in_flight In flight.",
      "# TYPE t_in_flight gauge",
      "t_in_flight 3",
      "# HELP t_latency_seconds Latency.",
      "# TYPE t_latency_seconds histogram",
      't_latency_seconds_bucket{op="x",le="0.1"} 2',
      't_latency_seconds_bucket{op="x",le="1"} 2',
      't_latency_seconds_bucket{op="x",le="+Inf"} 3',
      't_latency_seconds_sum{op="x"} 5.15',
      't_latency_seconds_count{op="x"} 3',
      "# HELP t_requests_total Requests\\\\handled.\\nSecond line.",
      "# TYPE t_requests_total counter",
      't_requests_total{path="a\\"b\\\\c\\nd"} 2',
      't_requests_total{path="/"} 1',
      "",
    ].join("\n"),
  );
  // The parser reads the escapes back.
  const p = parseProm(m.toPrometheus());
  assert.equal(sample(p, "t_requests_total", { path: 'a"b\\c\nd' }), 2);
  assert.equal(p.help.get("t_requests_total"), "Requests\\handled.\nSecond line.");
  // Nothing recorded: nothing printed.
  assert.equal(new MetricsCollector().toPrometheus(), "");
});

Deno.test("histogram bucket math: le is inclusive, +Inf catches the rest, cumulative counts", () => {
  const m = new MetricsCollector();
  const h = m.histogram("h_seconds", "h", { buckets: [1, 2, 5] });
  for (const v of [-1, 0, 1, 1.0000001, 2, 4.99, 5, 5.01, 1e9, Infinity, NaN]) {
    h.observe(undefined, v);
  }
  const series = m.snapshot().families.h_seconds.series[0];
  // NaN ignored; per-bucket counts (le 1: -1,0,1 | le 2: 1.0000001,2 | le 5: 4.99,5 | +Inf: 3)
  assert.deepEqual(series.buckets, [3, 2, 2, 3]);
  assert.equal(series.count, 10);
  const p = parseProm(m.toPrometheus());
  assert.deepEqual(
    p.samples.filter((s) => s.name === "h_seconds_bucket").map((s) => [s.labels.le, s.value]),
    [["1", 3], ["2", 5], ["5", 7], ["+Inf", 10]],
  );
  assert.equal(sample(p, "h_seconds_count", {}), 10);
  assert.equal(sample(p, "h_seconds_sum", {}), Infinity);
});

Deno.test("recordOperation: counts by op and result, failures, latency in seconds; parsed back", () => {
  const m = new MetricsCollector();
  m.recordOperation({ op: "exec", result: "ok", durationMs: 3 });
  m.recordOperation({ op: "exec", result: "ok", durationMs: 40 });
  m.recordOperation({ op: "exec", result: "unreachable", durationMs: 10_000 });
  m.recordOperation({ op: "restart", result: "failed", durationMs: 1200 });
  const p = parseProm(m.toPrometheus());
  assert.equal(p.type.get(OPERATIONS_TOTAL), "counter");
  assert.equal(p.type.get(OPERATION_DURATION_SECONDS), "histogram");
  assert.equal(sample(p, OPERATIONS_TOTAL, { op: "exec", result: "ok" }), 2);
  assert.equal(sample(p, OPERATIONS_TOTAL, { op: "exec", result: "unreachable" }), 1);
  assert.equal(sample(p, OPERATIONS_TOTAL, { op: "restart", result: "failed" }), 1);
  assert.equal(sample(p, "provctl_operation_failures_total", { op: "exec" }), 1);
  assert.equal(sample(p, "provctl_operation_failures_total", { op: "restart" }), 1);
  const bucket = (op: string, le: string) =>
    sample(p, `${OPERATION_DURATION_SECONDS}_bucket`, { op, le });
  assert.equal(bucket("exec", "0.005"), 1);
  assert.equal(bucket("exec", "0.025"), 1);
  assert.equal(bucket("exec", "0.05"), 2);
  assert.equal(bucket("exec", "5"), 2);
  assert.equal(bucket("exec", "10"), 3); // 10 s is on the last bound
  assert.equal(bucket("exec", "+Inf"), 3);
  assert.equal(bucket("restart", "1"), 0);
  assert.equal(bucket("restart", "2.5"), 1);
  assert.equal(sample(p, `${OPERATION_DURATION_SECONDS}_sum`, { op: "exec" }), 10.043);
  // Every histogram: buckets are non-decreasing and +Inf equals _count.
  for (const op of ["exec", "restart"]) {
    const values = DEFAULT_BUCKETS.map((b) => bucket(op, String(b))!);
    for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1]);
    assert.equal(bucket(op, "+Inf"), sample(p, `${OPERATION_DURATION_SECONDS}_count`, { op }));
  }
});

Deno.test("overhead: memory grows with label sets, not with observations; no I/O while recording", () => {
  const m = new MetricsCollector();
  const ops = ["exec", "start", "stop"];
  const results = ["ok", "failed"];
  let recorded = 0;
  for (let i = 0; i < 100_000; i++) {
    // recordOperation returns nothing to await: it is synchronous bookkeeping.
    const ret: void = m.recordOperation({
      op: ops[i % 3],
      result: results[i % 2],
      durationMs: i % 5000,
    });
    assert.equal(ret, undefined);
    recorded++;
  }
  const snap = m.snapshot();
  assert.equal(snap.families[OPERATIONS_TOTAL].series.length, 6);
  assert.equal(snap.families[OPERATION_DURATION_SECONDS].series.length, 3);
  assert.equal(snap.families["provctl_operation_failures_total"].series.length, 3);
  const total = snap.families[OPERATIONS_TOTAL].series.reduce((n, s) => n + s.value!, 0);
  assert.equal(total, recorded);
  // Each histogram series holds exactly buckets+1 counters, whatever the observation count.
  for (const s of snap.families[OPERATION_DURATION_SECONDS].series) {
    assert.equal(s.buckets!.length, DEFAULT_BUCKETS.length + 1);
  }
  assert.ok(JSON.stringify(snap).length < 5000);
});

Deno.test("sources: the SSH pool's stats are read at snapshot time as counters", async () => {
  const pool = new SshPool();
  try {
    const m = new MetricsCollector();
    m.registerPoolStats(() => pool.stats().total);
    let p = parseProm(m.toPrometheus());
    assert.equal(p.type.get("provctl_ssh_connections_created_total"), "counter");
    assert.equal(sample(p, "provctl_ssh_connections_created_total", {}), 0);
    // Any PoolStats-like function: values are read each time.
    let created = 1;
    const other = new MetricsCollector();
    other.registerPoolStats(() => ({ created, reused: 4, idleClosed: 1, failed: 2, waitMs: 1500 }));
    created = 7;
    p = parseProm(other.toPrometheus());
    assert.equal(sample(p, "provctl_ssh_connections_created_total", {}), 7);
    assert.equal(sample(p, "provctl_ssh_connections_reused_total", {}), 4);
    assert.equal(sample(p, "provctl_ssh_connections_idle_closed_total", {}), 1);
    assert.equal(sample(p, "provctl_ssh_connections_failed_total", {}), 2);
    assert.equal(sample(p, "provctl_ssh_pool_wait_seconds_total", {}), 1.5);
    // A gauge source with labels.
    other.registerSource({
      name: "t_hosts",
      help: "Hosts.",
      type: "gauge",
      collect:
        () => [{ labels: { state: "up" }, value: 9 }, { labels: { state: "down" }, value: 1 }],
    });
    p = parseProm(other.toPrometheus());
    assert.equal(p.type.get("t_hosts"), "gauge");
    assert.equal(sample(p, "t_hosts", { state: "down" }), 1);
  } finally {
    await pool.close();
  }
});

Deno.test("registration: bad names, reserved labels, type conflicts, bad buckets", () => {
  const m = new MetricsCollector();
  const bad = (fn: () => unknown, key: string) =>
    assert.throws(fn, (e) => isProvctlError(e) && e.key === key);
  bad(() => m.counter("1abc", "x"), "observe.metric_name_invalid");
  bad(() => m.counter("a-b", "x"), "observe.metric_name_invalid");
  bad(() => m.counter("ok_total", "x", ["__name"]), "observe.metric_label_invalid");
  bad(() => m.counter("ok_total", "x", ["a-b"]), "observe.metric_label_invalid");
  bad(() => m.histogram("h", "x", { labelNames: ["le"] }), "observe.metric_label_invalid");
  bad(() => m.histogram("h", "x", { buckets: [1, 1] }), "observe.buckets_invalid");
  bad(() => m.histogram("h", "x", { buckets: [1, Infinity] }), "observe.buckets_invalid");
  const c = m.counter("c_total", "x");
  assert.equal(m.counter("c_total", "x"), c); // idempotent
  bad(() => m.gauge("c_total", "x"), "observe.metric_conflict");
  bad(
    () => m.registerSource({ name: "c_total", help: "", type: "gauge", collect: () => [] }),
    "observe.metric_conflict",
  );
  // Counters do not go down.
  c.inc(undefined, -5);
  c.inc(undefined, NaN);
  assert.equal(c.get(), 0);
});

Deno.test("merging: counters and histograms add up, gauges take the newer value, type changes restart", () => {
  const a = new MetricsCollector();
  a.recordOperation({ op: "exec", result: "ok", durationMs: 20 });
  a.gauge("g", "g").set(undefined, 5);
  a.counter("changes_total", "x").inc();
  const b = new MetricsCollector();
  b.recordOperation({ op: "exec", result: "ok", durationMs: 2000 });
  b.recordOperation({ op: "stop", result: "failed", durationMs: 1 });
  b.gauge("g", "g").set(undefined, 2);
  b.gauge("changes_total", "now a gauge").set(undefined, 42);
  const merged = mergeSnapshots(a.snapshot(), b.snapshot());
  const p = parseProm(renderPrometheus(merged));
  assert.equal(sample(p, OPERATIONS_TOTAL, { op: "exec", result: "ok" }), 2);
  assert.equal(sample(p, OPERATIONS_TOTAL, { op: "stop", result: "failed" }), 1);
  assert.equal(sample(p, `${OPERATION_DURATION_SECONDS}_count`, { op: "exec" }), 2);
  assert.equal(sample(p, `${OPERATION_DURATION_SECONDS}_bucket`, { op: "exec", le: "0.025" }), 1);
  assert.equal(sample(p, `${OPERATION_DURATION_SECONDS}_bucket`, { op: "exec", le: "2.5" }), 2);
  assert.equal(sample(p, "g", {}), 2);
  assert.equal(p.type.get("changes_total"), "gauge");
  assert.equal(sample(p, "changes_total", {}), 42);
  // The inputs are untouched.
  assert.equal(a.snapshot().families[OPERATIONS_TOTAL].series[0].value, 1);
});

Deno.test("persistMetrics: totals across invocations, reset, corrupt file reported", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state/metrics.json`;
    assert.deepEqual((await loadMetrics(path)).families, {});
    const one = new MetricsCollector();
    one.recordOperation({ op: "exec", result: "ok", durationMs: 5 });
    await persistMetrics(path, one.snapshot());
    const two = new MetricsCollector();
    two.recordOperation({ op: "exec", result: "ok", durationMs: 5 });
    two.recordOperation({ op: "exec", result: "timeout", durationMs: 30_000 });
    const totals = await persistMetrics(path, two.snapshot());
    const loaded = await loadMetrics(path);
    assert.deepEqual(loaded, totals);
    const p = parseProm(renderPrometheus(loaded));
    assert.equal(sample(p, OPERATIONS_TOTAL, { op: "exec", result: "ok" }), 2);
    assert.equal(sample(p, OPERATIONS_TOTAL, { op: "exec", result: "timeout" }), 1);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    // No temp files left behind.
    const names = [...Deno.readDirSync(`${dir}/state`)].map((e) => e.name).sort();
    assert.deepEqual(names, ["metrics.json", "metrics.json.lock"]);
    await resetMetrics(path);
    assert.deepEqual((await loadMetrics(path)).families, {});
    await resetMetrics(path); // nothing to reset: fine
    // A corrupt file is a clear error, from load and from persist; reset recovers.
    await Deno.writeTextFile(
      path,
      '{"version":1,"families":{"x":{"type":"counter","series":[{"labels":{}}]}}}',
    );
    for (const attempt of [() => loadMetrics(path), () => persistMetrics(path, one.snapshot())]) {
      await assert.rejects(
        attempt(),
        (e) =>
          isProvctlError(e) && e.key === "observe.metrics_file_invalid" &&
          String(e.params.reason).includes("x"),
      );
    }
    await Deno.writeTextFile(path, "{trunc");
    await assert.rejects(
      loadMetrics(path),
      (e) => isProvctlError(e) && e.key === "observe.metrics_file_invalid",
    );
    await resetMetrics(path);
    await persistMetrics(path, one.snapshot());
    assert.equal((await loadMetrics(path)).families[OPERATIONS_TOTAL].series[0].value, 1);
  });
});

Deno.test("10 concurrent processes merging into one file lose nothing", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/metrics.json`;
    const script = `
      import { MetricsCollector, persistMetrics } from ${JSON.stringify(METRICS_MODULE)};
      const id = Number(Deno.args[0]);
      // Several merges per process, so the processes really overlap.
      for (let round = 0; round < 5; round++) {
        const m = new MetricsCollector();
        for (let i = 0; i < 20; i++) {
          m.recordOperation({ op: "exec", result: i % 4 === 0 ? "failed" : "ok", durationMs: i * 10 });
        }
        m.counter("t_process_total", "per process", ["id"]).inc({ id: String(id) });
        await persistMetrics(${JSON.stringify(path)}, m.snapshot());
      }
    `;
    const outputs = await Promise.all(
      Array.from({ length: 10 }, (_, id) =>
        new Deno.Command(Deno.execPath(), {
          args: ["eval", "--ext=ts", script, String(id)],
          stdout: "piped",
          stderr: "piped",
        }).output()),
    );
    for (const out of outputs) assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const totals: MetricsSnapshot = await loadMetrics(path);
    const p = parseProm(renderPrometheus(totals));
    // 10 processes x 5 rounds x 20 operations, a quarter of them failed.
    assert.equal(sample(p, OPERATIONS_TOTAL, { op: "exec", result: "ok" }), 750);
    assert.equal(sample(p, OPERATIONS_TOTAL, { op: "exec", result: "failed" }), 250);
    assert.equal(sample(p, "provctl_operation_failures_total", { op: "exec" }), 250);
    assert.equal(sample(p, `${OPERATION_DURATION_SECONDS}_count`, { op: "exec" }), 1000);
    assert.equal(
      sample(p, `${OPERATION_DURATION_SECONDS}_bucket`, { op: "exec", le: "0.01" }),
      100,
    );
    for (let id = 0; id < 10; id++) {
      assert.equal(sample(p, "t_process_total", { id: String(id) }), 5);
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["metrics.json", "metrics.json.lock"]);
  });
});
