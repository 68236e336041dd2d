import assert from "node:assert/strict";
import { isProvctlError, type ProvctlError } from "../../src/core/errors.ts";
import { breakerPath, listBreakers, resetBreakers } from "../../src/ssh/circuit_breaker.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "./_helpers.ts";

const NO_RETRY = { attempts: 1, backoff: "fixed", baseMs: 0, maxMs: 0, jitterPercent: 0 } as const;
// A cooldown no test could sleep through: the tests move a clock instead.
const COOLDOWN_MS = 60_000;

/** A clock the test moves (starts at the real time, so a child process sees the state). */
const clock = {
  offset: 0,
  now: () => Date.now() + clock.offset,
  advance(ms: number) {
    clock.offset += ms;
  },
};

/** One "provctl invocation": a fresh pool and runner, closed afterwards. */
async function invocation(
  fleet: Awaited<ReturnType<typeof startSshdFleet>>,
  stateDir: string,
): Promise<{ ok: true } | { ok: false; error: ProvctlError; ms: number }> {
  const pool = new SshPool({
    connect: { ...quietAuth, connectTimeoutMs: 2000 },
    retry: NO_RETRY,
    breaker: { stateDir, threshold: 2, cooldownMs: COOLDOWN_MS, clock },
  });
  const started = performance.now();
  try {
    await new SshRunner({ plan: planOf(fleet, 0), pool }).run("true", []);
    return { ok: true };
  } catch (error) {
    assert.ok(isProvctlError(error), String(error));
    return { ok: false, error, ms: performance.now() - started };
  } finally {
    await pool.close();
  }
}

/** The same in a separate Deno process, printing the error kind (or "ok"). */
async function invocationInChild(
  fleet: Awaited<ReturnType<typeof startSshdFleet>>,
  stateDir: string,
) {
  const root = new URL("../../", import.meta.url).href;
  const host = fleet.hosts[0];
  const script = `
    import { SshPool } from "${root}src/ssh/pool.ts";
    import { SshRunner } from "${root}src/ssh/ssh_runner.ts";
    const endpoint = { alias: "h1", host: "${host.address}", port: ${host.port}, user: "root",
      identityFiles: [${
    JSON.stringify(fleet.clientKey)
  }], identitiesConfigured: true, identitiesOnly: false,
      knownHostsFiles: [${JSON.stringify(fleet.knownHosts)}], hostKeyPolicy: "strict" };
    const pool = new SshPool({ connect: { agentSocket: "" }, retry: ${JSON.stringify(NO_RETRY)},
      breaker: { stateDir: ${
    JSON.stringify(stateDir)
  }, threshold: 2, cooldownMs: ${COOLDOWN_MS} } });
    try { await new SshRunner({ plan: { hops: [], target: endpoint }, pool }).run("true", []); console.log("ok"); }
    catch (e) { console.log(e.kind); }
    finally { await pool.close(); }`;
  const file = `${stateDir}/child.ts`;
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
      file,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim() || new TextDecoder().decode(out.stderr);
}

Deno.test("circuit breaker: opens after N failures, persists across invocations, half-opens after the cooldown", async (t) => {
  const fleet = await startSshdFleet({ count: 1 });
  const stateDir = await Deno.makeTempDir({ prefix: "provctl-breaker-" });
  const host = `${fleet.hosts[0].address}:${fleet.hosts[0].port}`;
  try {
    await t.step("a healthy host leaves no breaker state", async () => {
      assert.deepEqual(await invocation(fleet, stateDir), { ok: true });
      assert.deepEqual(await listBreakers(stateDir), []);
    });

    await fleet.kill(0);

    await t.step("failures below the threshold are tried and counted", async () => {
      const first = await invocation(fleet, stateDir);
      assert.ok(!first.ok && first.error.key === "ssh.connection_refused");
      const [status] = await listBreakers(stateDir);
      assert.deepEqual([status.host, status.state, status.consecutiveFailures], [
        host,
        "closed",
        1,
      ]);
    });

    await t.step("the threshold-th failure opens it; the next invocation fails fast", async () => {
      const second = await invocation(fleet, stateDir);
      assert.ok(!second.ok && second.error.kind === "ConnectionFailed");
      const third = await invocation(fleet, stateDir);
      assert.ok(!third.ok);
      assert.equal(third.error.kind, "CircuitOpen");
      assert.equal(third.error.params.host, host);
      assert.match(String(third.error.params.probe_at), /^\d{4}-\d\d-\d\dT/);
      assert.match(String(third.error.params.last_error), /connection refused|refused/i);
      assert.ok(third.ms < 100, `fail fast took ${third.ms} ms`);
      const [status] = await listBreakers(stateDir, clock);
      assert.equal(status.state, "open");
      assert.ok(Date.parse(status.probeAt!) > clock.now());
      const file = JSON.parse(await Deno.readTextFile(breakerPath(stateDir, host)));
      assert.equal(file.host, host);
    });

    await t.step("a separate provctl process sees the open breaker", async () => {
      assert.equal(await invocationInChild(fleet, stateDir), "CircuitOpen");
    });

    await t.step("after the cooldown one probe is let through; failing, it reopens", async () => {
      clock.advance(COOLDOWN_MS - 1000);
      assert.equal((await listBreakers(stateDir, clock))[0].state, "open");
      const still = await invocation(fleet, stateDir);
      assert.ok(!still.ok && still.error.kind === "CircuitOpen", "1 s before the probe time");
      clock.advance(1000);
      assert.equal((await listBreakers(stateDir, clock))[0].state, "half-open");
      const probe = await invocation(fleet, stateDir);
      assert.ok(!probe.ok && probe.error.kind === "ConnectionFailed", "the probe really connected");
      const again = await invocation(fleet, stateDir);
      assert.ok(!again.ok && again.error.kind === "CircuitOpen");
    });

    await t.step("with the host back, the probe after the cooldown closes it", async () => {
      await fleet.start(0);
      const early = await invocation(fleet, stateDir);
      assert.ok(!early.ok && early.error.kind === "CircuitOpen", "still cooling down");
      clock.advance(COOLDOWN_MS);
      assert.deepEqual(await invocation(fleet, stateDir), { ok: true }, "the probe closes it");
      const [status] = await listBreakers(stateDir, clock);
      assert.deepEqual([status.state, status.consecutiveFailures], ["closed", 0]);
      assert.deepEqual(await invocation(fleet, stateDir), { ok: true });
    });

    await t.step("reset forgets a host's breaker (by host:port or by address)", async () => {
      await fleet.kill(0);
      await invocation(fleet, stateDir);
      await invocation(fleet, stateDir);
      assert.equal((await listBreakers(stateDir, clock))[0].state, "open");
      assert.deepEqual(await resetBreakers(stateDir, "other-host"), []);
      assert.deepEqual(await resetBreakers(stateDir, fleet.hosts[0].address), [host]);
      assert.deepEqual(await listBreakers(stateDir), []);
      const retried = await invocation(fleet, stateDir);
      assert.ok(!retried.ok && retried.error.kind === "ConnectionFailed");
    });

    await t.step("authentication failures do not count against the host", async () => {
      await resetBreakers(stateDir);
      await fleet.start(0);
      const pool = new SshPool({
        connect: quietAuth,
        retry: NO_RETRY,
        breaker: { stateDir, threshold: 1, cooldownMs: COOLDOWN_MS },
      });
      try {
        const plan = planOf(fleet, 0, { overrides: { identityFiles: [`${stateDir}/missing`] } });
        for (let i = 0; i < 2; i++) {
          await assert.rejects(
            new SshRunner({ plan, pool }).run("true", []),
            (e) => isProvctlError(e, "AuthFailed"),
          );
        }
      } finally {
        await pool.close();
      }
      assert.deepEqual((await listBreakers(stateDir)).filter((s) => s.state !== "closed"), []);
    });
  } finally {
    await fleet.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
