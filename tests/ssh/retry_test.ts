import assert from "node:assert/strict";
import { isProvctlError, ProvctlError } from "../../src/core/errors.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import {
  backoffFactory,
  baseDelay,
  isRetryable,
  type RetryOptions,
  validateRetryOptions,
  withRetry,
} from "../../src/ssh/retry.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "./_helpers.ts";

const base: RetryOptions = {
  attempts: 8,
  backoff: "exponential",
  baseMs: 100,
  maxMs: 1000,
  jitterPercent: 0,
};

function delays(options: RetryOptions, n: number, random = () => 0.5): number[] {
  const out: number[] = [];
  let backoff = backoffFactory(options, random).next(undefined);
  for (let i = 0; i < n; i++) {
    out.push(backoff.duration);
    backoff = backoff.next(undefined);
  }
  return out;
}

Deno.test("backoff shapes: exponential, linear, fibonacci, fixed, capped at maxMs", () => {
  assert.deepEqual(delays(base, 6), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual(delays({ ...base, backoff: "linear" }, 6), [100, 200, 300, 400, 500, 600]);
  assert.deepEqual(delays({ ...base, backoff: "fibonacci" }, 7), [
    100,
    100,
    200,
    300,
    500,
    800,
    1000,
  ]);
  assert.deepEqual(delays({ ...base, backoff: "fixed" }, 3), [100, 100, 100]);
  assert.equal(baseDelay({ ...base, backoff: "linear", maxMs: 250 }, 5), 250);
});

Deno.test("jitter shortens each delay by up to jitterPercent, never above the cap", () => {
  const options = { ...base, jitterPercent: 20 };
  assert.deepEqual(delays(options, 3, () => 0), [100, 200, 400]);
  assert.deepEqual(delays(options, 3, () => 1), [80, 160, 320]);
  for (const d of delays({ ...options, backoff: "fixed" }, 50, Math.random)) {
    assert.ok(d >= 80 && d <= 100);
  }
});

Deno.test("classification: transient network failures retry, the rest do not", () => {
  const err = (kind: ConstructorParameters<typeof ProvctlError>[0], key: string) =>
    new ProvctlError(kind, key);
  for (
    const key of ["ssh.connection_refused", "ssh.connection_reset", "ssh.dns_failed", "ssh.timeout"]
  ) {
    assert.ok(isRetryable(err(key === "ssh.timeout" ? "Timeout" : "ConnectionFailed", key)), key);
  }
  assert.ok(!isRetryable(err("AuthFailed", "ssh.auth_failed")));
  assert.ok(!isRetryable(err("HostKeyMismatch", "known_hosts.mismatch")));
  assert.ok(!isRetryable(err("HostKeyUnknown", "known_hosts.unknown")));
  assert.ok(!isRetryable(err("HostKeyRevoked", "known_hosts.revoked")));
  assert.ok(!isRetryable(err("CircuitOpen", "ssh.circuit_open")));
  assert.ok(!isRetryable(err("CommandFailed", "errors.file_op_failed")));
  assert.ok(!isRetryable(new Error("a bug")));
});

Deno.test("withRetry: non-retryable errors stop at once; attempts are counted", async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(() => {
      calls++;
      return Promise.reject(new ProvctlError("AuthFailed", "ssh.auth_failed"));
    }, { ...base, baseMs: 1 }),
    (e) => isProvctlError(e, "AuthFailed"),
  );
  assert.equal(calls, 1);
  const seen: number[] = [];
  await assert.rejects(
    withRetry((attempt) => {
      seen.push(attempt);
      return Promise.reject(new ProvctlError("ConnectionFailed", "ssh.connection_refused"));
    }, { ...base, attempts: 3, baseMs: 1 }),
  );
  assert.deepEqual(seen, [1, 2, 3]);
});

Deno.test("invalid retry settings are InvalidConfig errors naming the key", () => {
  const check = (options: RetryOptions, field: string) =>
    assert.throws(
      () => validateRetryOptions(options),
      (e) => isProvctlError(e, "InvalidConfig") && e.params.field === field,
    );
  check({ ...base, attempts: 0 }, "retry_attempts");
  check({ ...base, backoff: "random" as RetryOptions["backoff"] }, "retry_backoff");
  check({ ...base, jitterPercent: 150 }, "retry_jitter_percent");
  check({ ...base, baseMs: -1 }, "retry_base_ms");
});

Deno.test("connection refused is retried with backoff until sshd comes up", async () => {
  const fleet = await startSshdFleet({ count: 1 });
  const retries: { key: string; delay: number }[] = [];
  const pool = new SshPool({
    connect: quietAuth,
    retry: { attempts: 8, backoff: "linear", baseMs: 150, maxMs: 1000, jitterPercent: 0 },
    onRetry: (_key, error, _n, delay) => retries.push({ key: (error as ProvctlError).key, delay }),
  });
  try {
    await fleet.kill(0);
    const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
    const started = performance.now();
    const result = runner.run("echo", ["back"]);
    await new Promise((r) => setTimeout(r, 500));
    await fleet.start(0);
    assert.equal((await result).stdout, "back\n");
    assert.ok(retries.length >= 2, JSON.stringify(retries));
    assert.ok(retries.every((r) => r.key === "ssh.connection_refused"));
    assert.deepEqual(
      retries.slice(0, 3).map((r) => r.delay),
      [150, 300, 450].slice(0, Math.min(3, retries.length)),
    );
    assert.ok(performance.now() - started >= 450);
    assert.deepEqual([pool.stats().total.created, pool.stats().total.failed], [1, 0]);
  } finally {
    await pool.close();
    await fleet.stop();
  }
});
