import assert from "node:assert/strict";
import { waitFor } from "../helpers/cli.ts";
import { expectProvctlError } from "../helpers/errors.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { connectSession } from "../../src/ssh/session.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { freePort, startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "./_helpers.ts";

const NO_RETRY = { attempts: 1, backoff: "fixed", baseMs: 0, maxMs: 0, jitterPercent: 0 } as const;

const expectError = (promise: Promise<unknown>, kind: string) => expectProvctlError(kind, promise);

Deno.test("connection failures are named and never hang", async (t) => {
  const fleet = await startSshdFleet({ count: 2 });
  const [h1, h2] = fleet.hosts;
  try {
    await t.step("connection refused", async () => {
      const port = freePort(h1.address);
      const plan = planOf(fleet, 0, { overrides: { port } });
      const error = await expectError(connectSession(plan, quietAuth), "ConnectionFailed");
      assert.equal(error.key, "ssh.connection_refused");
      assert.equal(error.params.where, `h1:${port}`);
    });

    await t.step("a listener that accepts but never speaks: connect timeout named", async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const accepted: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const conn of listener) accepted.push(conn);
      })();
      try {
        const port = (listener.addr as Deno.NetAddr).port;
        const plan = planOf(fleet, 0, { overrides: { host: "127.0.0.1", port } });
        const started = Date.now();
        const error = await expectError(
          connectSession(plan, { ...quietAuth, connectTimeoutMs: 400 }),
          "Timeout",
        );
        assert.deepEqual([error.key, error.params.which, error.params.ms], [
          "ssh.handshake_timeout",
          "connect",
          400,
        ]);
        assert.ok(Date.now() - started < 3000);
        assert.equal(
          accepted.length,
          1,
          "the TCP connection was made, the SSH handshake never came",
        );
      } finally {
        listener.close();
        await accepting.catch(() => {});
        for (const conn of accepted) {
          try {
            conn.close();
          } catch { /* closed by the peer */ }
        }
      }
    });

    await t.step("an agent that never answers: auth timeout named", async () => {
      const socket = `${fleet.dir}/silent-agent.sock`;
      const listener = Deno.listen({ transport: "unix", path: socket });
      const accepted: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const conn of listener) accepted.push(conn);
      })();
      try {
        const error = await expectError(
          connectSession(planOf(fleet, 0), {
            ...quietAuth,
            agentSocket: socket,
            authTimeoutMs: 400,
          }),
          "Timeout",
        );
        assert.deepEqual([error.params.which, error.params.where], ["auth", `h1:${h1.port}`]);
      } finally {
        listener.close();
        await accepting.catch(() => {});
        for (const conn of accepted) {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      }
    });

    await t.step("total timeout of a run names 'total'", async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const accepted: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const conn of listener) accepted.push(conn);
      })();
      const pool = new SshPool({
        connect: { ...quietAuth, connectTimeoutMs: 5000 },
        retry: NO_RETRY,
      });
      try {
        const port = (listener.addr as Deno.NetAddr).port;
        const plan = planOf(fleet, 0, { overrides: { host: "127.0.0.1", port } });
        const runner = new SshRunner({ plan, pool, totalTimeoutMs: 300 });
        const error = await expectError(runner.run("true", []), "Timeout");
        assert.equal(error.params.which, "total");
      } finally {
        await pool.close();
        listener.close();
        await accepting.catch(() => {});
        for (const conn of accepted) {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      }
    });

    await t.step("sshd killed mid-command: clear error, no hang", async () => {
      const pool = new SshPool({ connect: quietAuth, retry: NO_RETRY });
      try {
        const runner = new SshRunner({ plan: planOf(fleet, 1), pool });
        assert.equal((await runner.run("echo", ["up"])).stdout, "up\n");
        // A unique duration marks the remote process (GNU sleep takes fractions).
        const marker = `sleep 30.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
        const running = runner.run("sh", ["-c", marker]);
        running.catch(() => {}); // rejects while the fixture is still stopping sshd
        // sshd's session is the same machine: wait until the command really runs.
        await waitFor(
          "the remote command to start",
          async () => (await new Deno.Command("pgrep", { args: ["-f", marker] }).output()).success,
        );
        const started = Date.now();
        await fleet.kill(1);
        const error = await expectError(running, "ConnectionFailed");
        assert.equal(error.key, "ssh.connection_lost");
        assert.ok(Date.now() - started < 5000);
        // The broken connection is not handed out again: the next run fails to connect.
        const next = await expectError(runner.run("true", []), "ConnectionFailed");
        assert.equal(next.key, "ssh.connection_refused");
        const { total } = pool.stats();
        assert.deepEqual([total.created, total.failed], [1, 1]);
      } finally {
        await pool.close();
        await fleet.start(1);
      }
    });

    await t.step(
      "sshd restarted while a pooled connection was idle: the next run reconnects",
      async () => {
        const pool = new SshPool({ connect: quietAuth, retry: NO_RETRY });
        try {
          const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
          assert.equal((await runner.run("echo", ["1"])).stdout, "1\n");
          await fleet.kill(0);
          await fleet.start(0);
          assert.equal((await runner.run("echo", ["2"])).stdout, "2\n");
          assert.equal(pool.stats().total.created, 2);
        } finally {
          await pool.close();
        }
      },
    );

    await t.step("changed host key: refused with both fingerprints, nothing written", async () => {
      const before = await Deno.readTextFile(fleet.knownHosts);
      const oldKey = h2.hostKeyPub;
      await fleet.rotateHostKey(1);
      assert.notEqual(h2.hostKeyPub, oldKey);
      for (const policy of ["strict", "accept-new"] as const) {
        const plan = planOf(fleet, 1, { overrides: { hostKeyPolicy: policy } });
        const error = await expectError(connectSession(plan, quietAuth), "HostKeyMismatch");
        assert.match(String(error.params.expected), /^SHA256:/);
        assert.match(String(error.params.presented), /^SHA256:/);
        assert.notEqual(error.params.expected, error.params.presented);
        assert.equal(error.params.file, fleet.knownHosts);
      }
      assert.equal(await Deno.readTextFile(fleet.knownHosts), before);
    });
  } finally {
    await fleet.stop();
  }
});
