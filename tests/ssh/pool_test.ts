import assert from "node:assert/strict";
import { waitFor } from "../helpers/cli.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { loadConfig } from "../../src/config/loader.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { poolOptionsFrom, readSshSettings, runnerTimeoutsFrom } from "../../src/ssh/settings.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import type { BreakerStore } from "../../src/ssh/circuit_breaker.ts";
import { planKey } from "../../src/ssh/target.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "./_helpers.ts";

const NO_RETRY = { attempts: 1, backoff: "fixed", baseMs: 0, maxMs: 0, jitterPercent: 0 } as const;

/** Established TCP connections to a local port (as the kernel sees them). */
async function connectionsTo(port: number): Promise<number> {
  const out = await new Deno.Command("ss", {
    args: ["-tnH", "state", "established", `( dport = :${port} )`],
  })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "").length;
}

/**
 * What this machine sent on its one established connection to a local port: data-carrying
 * TCP segments and bytes (the kernel's per-socket counters, as `ss -ti` shows them).
 */
async function sentTo(port: number): Promise<{ segments: number; bytes: number }> {
  const out = await new Deno.Command("ss", {
    args: ["-tinH", "state", "established", `( dport = :${port} )`],
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const field = (name: string) => [...text.matchAll(new RegExp(`\\b${name}:(\\d+)`, "g"))];
  const segments = field("data_segs_out"), bytes = field("bytes_sent");
  assert.equal(segments.length, 1, `one connection to port ${port}:\n${text}`);
  return { segments: Number(segments[0][1]), bytes: Number(bytes[0][1]) };
}

Deno.test("SshRunner on a pooled connection: per command only the channel's own work", async (t) => {
  const fleet = await startSshdFleet({ count: 2 });
  const dir = await Deno.makeTempDir();
  const pools: SshPool[] = [];
  const calls = { get: 0, put: 0 };
  const store: BreakerStore = {
    get: () => Promise.resolve(void calls.get++),
    put: () => Promise.resolve(void calls.put++),
    list: () => Promise.resolve([]),
    delete: () => Promise.resolve(false),
  };
  const newRunner = (plan: ReturnType<typeof planOf>, breaker: { store?: BreakerStore } = {}) => {
    const pool = new SshPool({
      connect: quietAuth,
      retry: NO_RETRY,
      breaker: { stateDir: `${dir}/state`, threshold: 3, cooldownMs: 60_000, ...breaker },
    });
    pools.push(pool);
    // With both timeouts, as the CLI runs commands.
    return {
      pool,
      runner: new SshRunner({ plan, pool, commandTimeoutMs: 60_000, totalTimeoutMs: 90_000 }),
    };
  };
  try {
    await t.step(
      "a closed circuit breaker is read once per connection, never written",
      async () => {
        const { pool, runner } = newRunner(planOf(fleet, 0), { store });
        for (let i = 0; i < 6; i++) assert.equal((await runner.run("true", [])).code, 0);
        assert.deepEqual(calls, { get: 1, put: 0 });
        assert.deepEqual([pool.stats().total.created, pool.stats().total.reused], [1, 5]);
        // The file store: nothing is written for a healthy host.
        const files = newRunner(planOf(fleet, 1)).runner;
        for (let i = 0; i < 3; i++) assert.equal((await files.run("true", [])).code, 0);
        const written = await Array.fromAsync(Deno.readDir(`${dir}/state`)).catch(() => []);
        assert.deepEqual(written, []);
      },
    );

    await t.step("each burst of packets leaves as one TCP segment and hop packet", async () => {
      // Only this step's connections to the fleet may be open (ss counts per connection).
      for (const pool of pools.splice(0)) await pool.close();
      const perCommand: number[] = [];
      for (const hops of [[], [0]]) {
        const { runner } = newRunner(planOf(fleet, 1, { hops }));
        await runner.run("true", []);
        // Through a jump host, the hop's connection carries the target's packets.
        const port = fleet.hosts[hops.length > 0 ? 0 : 1].port;
        const before = await sentTo(port);
        for (let i = 0; i < 5; i++) assert.equal((await runner.run("true", [])).code, 0);
        const after = await sentTo(port);
        // Channel open, exec request, EOF of stdin, channel close: 4 per command (each
        // packet was 3 segments, one per piece ssh2 wrote, before writes were batched);
        // through the hop, plus at most one window adjust for each of the <= 5 bursts back.
        const segments = after.segments - before.segments;
        const allowed = 5 * (hops.length > 0 ? 4 + 5 : 4);
        assert.ok(segments <= allowed, `${segments} segments for 5 commands (${hops.length} hops)`);
        perCommand.push((after.bytes - before.bytes) / 5);
        for (const pool of pools.splice(0)) await pool.close();
      }
      // Each of the 4 packets rides in one CHANNEL_DATA packet to the hop: at most 49 bytes
      // more each (header 14, padding up to 19, MAC 16), plus a 36-byte window adjust for
      // each of the at most 5 bursts the hop forwards back. One CHANNEL_DATA per piece
      // ssh2 wrote (12) were at least 12 * 34 = 408 bytes.
      const overhead = perCommand[1] - perCommand[0];
      assert.ok(overhead > 0 && overhead <= 4 * 49 + 5 * 36, `${overhead} bytes of hop overhead`);
    });

    await t.step("through a jump host, no command waits for a delayed ACK", async () => {
      const { runner } = newRunner(planOf(fleet, 1, { hops: [0] }));
      await runner.run("true", []);
      // The hop's sshd held the target's exit status until this machine's delayed ACK of
      // the PID marker line fired (at least 40 ms): most commands waited for it; now none
      // should (a few ms each), so at most 2 of 20 may take that long on a loaded machine.
      const slow: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        assert.equal((await runner.run("true", [])).code, 0);
        const ms = performance.now() - started;
        if (ms >= 40) slow.push(Math.round(ms));
      }
      assert.ok(slow.length <= 2, `commands of 40 ms or more: ${slow.join(", ")}`);
    });

    await t.step("a successful command formats no ERR_STREAM_ALREADY_FINISHED", async () => {
      const { runner } = newRunner(planOf(fleet, 0));
      await runner.run("true", []);
      const original = Error.prepareStackTrace;
      // Only ssh2's redundant end() counts: on a loaded machine an unrelated timer or socket
      // elsewhere in this process may format a stack at the same time.
      let formatted = 0;
      Error.prepareStackTrace = (error, frames) => {
        if ((error as { code?: string }).code === "ERR_STREAM_ALREADY_FINISHED") formatted++;
        return `${error}\n${frames.map((f) => `    at ${f}`).join("\n")}`;
      };
      try {
        for (let i = 0; i < 5; i++) {
          const r = await runner.run("echo", ["out"], { stdin: "in" });
          assert.deepEqual([r.code, r.stdout], [0, "out\n"]);
        }
      } finally {
        Error.prepareStackTrace = original;
      }
      // ssh2 ended every finished channel again when streams auto-destroyed it, which
      // built an ERR_STREAM_ALREADY_FINISHED (~0.15 ms in Deno) nobody saw.
      assert.equal(formatted, 0);
    });
  } finally {
    for (const pool of pools) await pool.close();
    await fleet.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SshPool: reuse, limits, idle timeout, statistics, close", async (t) => {
  const fleet = await startSshdFleet({ count: 2 });
  const pools: SshPool[] = [];
  const newPool = (options: ConstructorParameters<typeof SshPool>[0] = {}) => {
    const pool = new SshPool({ connect: quietAuth, retry: NO_RETRY, ...options });
    pools.push(pool);
    return pool;
  };
  try {
    await t.step("sequential commands reuse one connection", async () => {
      const pool = newPool();
      const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
      for (let i = 0; i < 5; i++) {
        assert.equal((await runner.run("echo", [String(i)])).stdout, `${i}\n`);
      }
      const stats = pool.stats();
      assert.deepEqual(stats.total, { created: 1, reused: 4, idleClosed: 0, failed: 0, waitMs: 0 });
      assert.deepEqual(Object.keys(stats.hosts), [planKey(planOf(fleet, 0))]);
    });

    await t.step("at most maxPerHost connections; others wait their turn", async () => {
      const pool = newPool({ maxPerHost: 2 });
      const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
      const baseline = await connectionsTo(fleet.hosts[0].port);
      const started = performance.now();
      const running = Promise.all(
        Array.from({ length: 5 }, (_, i) => runner.run("sh", ["-c", `sleep 0.3; echo ${i}`])),
      );
      await new Promise((r) => setTimeout(r, 150));
      const during = await connectionsTo(fleet.hosts[0].port);
      const results = await running;
      const elapsed = performance.now() - started;
      assert.equal(during - baseline, 2, "two connections to the host while five commands ran");
      assert.deepEqual(results.map((r) => r.stdout), ["0\n", "1\n", "2\n", "3\n", "4\n"]);
      const { total } = pool.stats();
      assert.equal(total.created, 2);
      assert.equal(total.reused, 3);
      assert.ok(total.waitMs >= 3 * 250, `waited ${total.waitMs} ms`);
      assert.ok(elapsed >= 850, `3 waves of 0.3 s took ${elapsed} ms`);
    });

    await t.step("different users, ports or hop chains are different pool keys", async () => {
      const pool = newPool();
      await new SshRunner({ plan: planOf(fleet, 1), pool }).run("true", []);
      await new SshRunner({ plan: planOf(fleet, 1, { hops: [0] }), pool }).run("true", []);
      await new SshRunner({ plan: planOf(fleet, 1), pool }).run("true", []);
      const stats = pool.stats();
      assert.equal(Object.keys(stats.hosts).length, 2);
      assert.deepEqual([stats.total.created, stats.total.reused], [2, 1]);
      assert.ok(
        Object.keys(stats.hosts).some((k) => k.includes(" > ")),
        "the hop chain is in the key",
      );
    });

    await t.step("idle connections close after the idle timeout", async () => {
      const pool = newPool({ idleTimeoutMs: 150 });
      const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
      await runner.run("true", []);
      await new Promise((r) => setTimeout(r, 400));
      await runner.run("true", []);
      const { total } = pool.stats();
      assert.deepEqual([total.created, total.idleClosed, total.reused], [2, 1, 0]);
    });

    await t.step("failed connects are counted", async () => {
      const pool = newPool();
      const plan = planOf(fleet, 0, { overrides: { port: 1 } });
      await assert.rejects(
        new SshRunner({ plan, pool }).run("true", []),
        (e) => isProvctlError(e, "ConnectionFailed"),
      );
      assert.equal(pool.stats().total.failed, 1);
    });

    await t.step(
      "close() ends every connection, lent or idle, and the pool refuses new work",
      async () => {
        const pool = newPool();
        const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
        await runner.run("true", []);
        // A unique duration marks the remote process (GNU sleep takes fractions).
        const marker = `sleep 30.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
        const running = runner.run("sh", ["-c", marker]);
        running.catch(() => {});
        await waitFor(
          "the remote command to start",
          async () => (await new Deno.Command("pgrep", { args: ["-f", marker] }).output()).success,
        );
        const started = performance.now();
        await pool.close();
        await assert.rejects(running);
        assert.ok(performance.now() - started < 3000);
        await assert.rejects(runner.run("true", []), (e) => isProvctlError(e, "Internal"));
      },
    );
  } finally {
    for (const pool of pools) await pool.close();
    await fleet.stop();
  }
});

Deno.test("settings from defaults.toml [ssh] become pool and runner options", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await loadConfig({
      env: { HOME: dir },
      systemDir: `${dir}/etc`,
      userDir: `${dir}/user`,
    });
    const settings = readSshSettings(config);
    assert.equal(settings.hostKeyPolicy, "strict");
    assert.equal(settings.retry.backoff, "exponential");
    assert.ok(settings.connectTimeoutMs > 0 && settings.poolMaxPerHost >= 1);
    const options = poolOptionsFrom(settings, { stateDir: `${dir}/state` });
    assert.deepEqual(options.breaker, {
      stateDir: `${dir}/state`,
      threshold: settings.breakerThreshold,
      cooldownMs: settings.breakerCooldownMs,
    });
    assert.equal(options.connect?.connectTimeoutMs, settings.connectTimeoutMs);
    assert.equal(
      poolOptionsFrom({ ...settings, breakerThreshold: 0 }, { stateDir: dir }).breaker,
      undefined,
    );
    assert.deepEqual(runnerTimeoutsFrom({ ...settings, commandTimeoutMs: 0, totalTimeoutMs: 5 }), {
      commandTimeoutMs: undefined,
      totalTimeoutMs: 5,
    });
    // An override layer changes them (PROVCTL_* env or a defaults.toml in a config dir).
    await Deno.mkdir(`${dir}/conf`);
    await Deno.writeTextFile(
      `${dir}/conf/defaults.toml`,
      '[ssh]\nretry_backoff = "fibonacci"\npool_max_per_host = 9\n',
    );
    const custom = readSshSettings(
      await loadConfig({
        env: { HOME: dir },
        configDir: `${dir}/conf`,
        systemDir: `${dir}/etc`,
        userDir: `${dir}/user`,
      }),
    );
    assert.deepEqual([custom.retry.backoff, custom.poolMaxPerHost], ["fibonacci", 9]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
