import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { type CheckResult, parseHealthCheck, runCheck } from "../../src/health/checks.ts";
import { HealthMonitor, type HealthTransition, waitHealthy } from "../../src/health/monitor.ts";
import { closedPort, startHttpServer, type TestServer } from "./fixtures/servers.ts";

const runner = new LocalRunner();
const messages = new Messages(embeddedMessages());

/** A hand-driven clock: tests move time with `advance`. */
class FakeClock {
  t = Date.UTC(2026, 0, 1);
  now() {
    return this.t;
  }
  advance(ms: number) {
    this.t += ms;
  }
}

/** A real command check whose outcome a test flips: healthy while the flag file exists. */
async function flagCheck() {
  const dir = await Deno.makeTempDir({ prefix: "provctl-health-flag-" });
  const flag = `${dir}/up`;
  return {
    check: parseHealthCheck({ type: "command", program: "test", args: ["-e", flag] }, "test"),
    up: () => Deno.writeTextFile(flag, ""),
    down: () => Deno.remove(flag).catch(() => {}),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("monitor: thresholds, unknown -> healthy -> unhealthy -> recovered -> healthy, durations", async () => {
  await using flag = await flagCheck();
  const clock = new FakeClock();
  const start = clock.t;
  const monitor = new HealthMonitor(flag.check, {
    runner,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    clock,
  });
  /** One real check, one second later each time. */
  const step = async () => {
    clock.advance(1000);
    return (await monitor.checkOnce()).transition;
  };

  assert.equal(monitor.state, "unknown");
  await flag.up();
  assert.equal(await step(), undefined); // 1 pass of 2
  assert.equal(monitor.state, "unknown");
  const healthy = await step();
  assert.deepEqual([healthy?.from, healthy?.to, healthy?.at], ["unknown", "healthy", start + 2000]);

  await flag.down();
  assert.equal(await step(), undefined);
  assert.equal(await step(), undefined);
  assert.equal(monitor.consecutiveFailures, 2);
  assert.equal(monitor.state, "healthy"); // 2 failures of 3: not yet
  const unhealthy = await step();
  assert.deepEqual([unhealthy?.from, unhealthy?.to, unhealthy?.at], [
    "healthy",
    "unhealthy",
    start + 5000,
  ]);
  assert.equal(unhealthy?.result.status, "fail");
  assert.match(unhealthy!.result.detail, /^test exited 1/);

  clock.advance(10_000);
  assert.deepEqual(monitor.unhealthyDuration(), { current: 10_000, total: 10_000 });

  // A single pass between failures resets the count: still unhealthy.
  await flag.up();
  assert.equal(await step(), undefined);
  await flag.down();
  assert.equal(await step(), undefined);
  await flag.up();
  assert.equal(await step(), undefined);
  const recovered = await step();
  assert.deepEqual([recovered?.from, recovered?.to], ["unhealthy", "recovered"]);
  assert.equal(recovered?.unhealthyMs, recovered!.at - unhealthy!.at);
  assert.equal(recovered?.unhealthyMs, 14_000);
  assert.deepEqual(monitor.unhealthyDuration(), { current: 0, total: 14_000 });

  const settled = await step();
  assert.deepEqual([settled?.from, settled?.to], ["recovered", "healthy"]);

  // A second outage adds to the total.
  await flag.down();
  for (let i = 0; i < 3; i++) await step();
  assert.equal(monitor.state, "unhealthy");
  clock.advance(5000);
  assert.deepEqual(monitor.unhealthyDuration(), { current: 5000, total: 19_000 });

  assert.deepEqual(
    monitor.transitions.map((t) => `${t.from}->${t.to}`),
    [
      "unknown->healthy",
      "healthy->unhealthy",
      "unhealthy->recovered",
      "recovered->healthy",
      "healthy->unhealthy",
    ],
  );
  const snapshot = monitor.snapshot();
  assert.equal(snapshot.state, "unhealthy");
  assert.equal(snapshot.since, monitor.transitions[4].at);
  assert.equal(snapshot.checks, 13);
  assert.equal(snapshot.consecutiveFailures, 3);
  assert.equal(snapshot.last?.ok, false);
  // Plain data: survives JSON for `-o json`.
  assert.equal(JSON.parse(JSON.stringify(snapshot)).transitions.length, 5);
});

Deno.test("monitor: failures first go unknown -> unhealthy; recovered falls back to unhealthy", async () => {
  await using flag = await flagCheck();
  const clock = new FakeClock();
  const monitor = new HealthMonitor(flag.check, {
    runner,
    healthyThreshold: 1,
    unhealthyThreshold: 2,
    clock,
  });
  await flag.down();
  assert.equal((await monitor.checkOnce()).transition, undefined);
  assert.equal((await monitor.checkOnce()).transition?.to, "unhealthy");
  await flag.up();
  assert.equal((await monitor.checkOnce()).transition?.to, "recovered");
  await flag.down();
  assert.equal((await monitor.checkOnce()).transition, undefined);
  assert.equal(monitor.state, "recovered");
  const fellBack = (await monitor.checkOnce()).transition;
  assert.deepEqual([fellBack?.from, fellBack?.to], ["recovered", "unhealthy"]);
});

Deno.test("monitor: check errors count as failures; thresholds must be whole numbers >= 1", async () => {
  const missing = parseHealthCheck(
    { type: "command", program: "/nonexistent/health-probe" },
    "test",
  );
  const monitor = new HealthMonitor(missing, { runner, unhealthyThreshold: 1 });
  const { result, transition } = await monitor.checkOnce();
  assert.equal(result.status, "error");
  assert.equal(transition?.to, "unhealthy");

  for (const bad of [0, 1.5, -2]) {
    assert.throws(
      () => new HealthMonitor(missing, { healthyThreshold: bad }),
      (e) =>
        isProvctlError(e, "InvalidArgument") &&
        messages.format(e.key, e.params) ===
          `invalid healthy_threshold ${bad}: use a whole number >= 1`,
    );
  }
});

/** Polls until `predicate` holds (real time), failing after `ms`. */
async function until(predicate: () => boolean, ms: number, what: string) {
  const end = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("watch: a real server that goes down and comes back", async () => {
  let server: TestServer = startHttpServer();
  const port = server.port;
  const check = parseHealthCheck(
    { type: "http", url: `http://127.0.0.1:${port}/ok`, timeout_ms: 1000 },
    "test",
  );
  const monitor = new HealthMonitor(check, { healthyThreshold: 2, unhealthyThreshold: 2 });
  const seen: HealthTransition[] = [];
  const results: CheckResult[] = [];
  const stop = new AbortController();
  const watching = monitor.watch({
    intervalMs: 50,
    signal: stop.signal,
    onTransition: (t) => seen.push(t),
    onResult: (r) => results.push(r),
  });
  try {
    await until(() => monitor.state === "healthy", 5000, "healthy");
    await server.close();
    await until(() => monitor.state === "unhealthy", 5000, "unhealthy");
    const down = results.at(-1)!;
    assert.match(down.detail, /from controller failed: .*refused/i);
    server = startHttpServer(port);
    await until(() => monitor.state === "healthy" && seen.length >= 4, 5000, "healthy again");
  } finally {
    stop.abort();
    await watching;
    await server.close();
  }
  assert.deepEqual(
    seen.slice(0, 4).map((t) => `${t.from}->${t.to}`),
    ["unknown->healthy", "healthy->unhealthy", "unhealthy->recovered", "recovered->healthy"],
  );
  assert.ok(seen[2].unhealthyMs! > 0);
  assert.ok(seen[0].at <= seen[1].at && seen[1].at <= seen[2].at);
  const checks = results.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(results.length, checks, "no check runs after the watch ended");
});

Deno.test("watch: the interval is kept between check starts", async () => {
  await using server = startHttpServer();
  const check = parseHealthCheck({ type: "http", url: server.url("/ok") }, "test");
  const monitor = new HealthMonitor(check);
  const starts: number[] = [];
  const stop = new AbortController();
  await monitor.watch({
    intervalMs: 200,
    signal: stop.signal,
    onResult: (r) => {
      starts.push(r.startedAt);
      if (starts.length === 4) stop.abort();
    },
  });
  for (let i = 1; i < starts.length; i++) {
    const gap = starts[i] - starts[i - 1];
    assert.ok(gap >= 180 && gap < 400, `gap ${gap} ms`);
  }
});

Deno.test("waitHealthy: returns once a late server answers", async () => {
  const port = closedPort();
  const check = parseHealthCheck({ type: "http", url: `http://127.0.0.1:${port}/ok` }, "test");
  let server: TestServer | undefined;
  const timer = setTimeout(() => server = startHttpServer(port), 400);
  const attempts: number[] = [];
  try {
    const result = await waitHealthy(check, {
      timeoutMs: 10_000,
      intervalMs: 100,
      onResult: (_, n) => attempts.push(n),
    });
    assert.equal(result.ok, true);
    assert.ok(attempts.length >= 3, `only ${attempts.length} attempts`);
  } finally {
    clearTimeout(timer);
    await server?.close();
  }
});

Deno.test("waitHealthy: gives up after the attempts, quoting the last check", async () => {
  const port = closedPort();
  const check = parseHealthCheck({ type: "http", url: `http://127.0.0.1:${port}/ok` }, "test");
  const error = await waitHealthy(check, { attempts: 3, intervalMs: 20 }).then(
    () => assert.fail("resolved"),
    (e) => e,
  );
  assert.ok(isProvctlError(error, "Timeout"));
  const text = messages.format(error.key, error.params);
  assert.match(
    text,
    new RegExp(
      `^HTTP GET http://127\\.0\\.0\\.1:${port}/ok \\(from controller\\) on controller not healthy after [\\d.]+ s \\(3 check\\(s\\)\\); last check: request to .* failed: .*refused`,
      "i",
    ),
  );
  assert.equal(error.hint, "health.wait_hint");
});

Deno.test("waitHealthy: the time budget bounds slow checks; consecutive passes are required", async () => {
  await using server = startHttpServer();
  const slow = parseHealthCheck({ type: "http", url: server.url("/slow?ms=5000") }, "test");
  const started = performance.now();
  const error = await waitHealthy(slow, { timeoutMs: 700, intervalMs: 100 }).catch((e) => e);
  const took = performance.now() - started;
  assert.ok(isProvctlError(error, "Timeout"));
  assert.ok(took < 2000, `took ${took} ms`);
  assert.match(
    messages.format(error.key, error.params),
    /not healthy after [\d.]+ s \(1 check\(s\)\); last check: no answer from/,
  );

  await using flag = await flagCheck();
  await flag.up();
  const seen: boolean[] = [];
  const result = await waitHealthy(flag.check, {
    runner,
    healthyThreshold: 3,
    intervalMs: 10,
    onResult: (r) => seen.push(r.ok),
  });
  assert.equal(result.ok, true);
  assert.deepEqual(seen, [true, true, true]);
});

Deno.test("runCheck results feed a monitor directly (record)", async () => {
  const clock = new FakeClock();
  const ok = await runCheck(parseHealthCheck({ type: "command", program: "true" }, "t"), {
    runner,
  });
  const bad = await runCheck(parseHealthCheck({ type: "command", program: "false" }, "t"), {
    runner,
  });
  const monitor = new HealthMonitor(parseHealthCheck({ type: "command", program: "true" }, "t"), {
    healthyThreshold: 1,
    unhealthyThreshold: 1,
    clock,
  });
  // Alternating results flip the state each time with thresholds of 1.
  assert.equal(monitor.record(ok)?.to, "healthy");
  assert.equal(monitor.record(bad)?.to, "unhealthy");
  clock.advance(42);
  assert.equal(monitor.record(ok)?.unhealthyMs, 42);
  assert.equal(monitor.state, "recovered");
});
