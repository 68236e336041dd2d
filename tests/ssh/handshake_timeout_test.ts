/**
 * A port that accepts TCP and then never speaks SSH (no banner, or a banner and then
 * nothing) fails within the connect timeout as a handshake timeout: retried like a
 * connect timeout, and never reported as a command timeout (no command ran).
 */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { connectSession } from "../../src/ssh/session.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { cliSandbox } from "../helpers/cli.ts";
import { planOf, quietAuth } from "./_helpers.ts";

/** A loopback listener that accepts, optionally sends an SSH banner, then stays silent. */
function stallingListener(banner: boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      accepted.push(conn);
      if (banner) await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2p1 Debian\r\n"));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted,
    async close() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of accepted) {
        try {
          conn.close();
        } catch { /* closed by the peer */ }
      }
    },
  };
}

const NO_RETRY = { attempts: 1, backoff: "fixed", baseMs: 0, maxMs: 0, jitterPercent: 0 } as const;

Deno.test("a silent SSH port is a handshake timeout bounded by the connect timeout", async (t) => {
  const fleet = await startSshdFleet({ count: 1 });
  try {
    for (const banner of [false, true]) {
      const stage = banner ? /banner and then stalled/ : /never sent an SSH banner/;
      await t.step(`${banner ? "banner, then silence" : "no banner"}: direct`, async () => {
        const server = stallingListener(banner);
        try {
          const plan = planOf(fleet, 0, {
            overrides: { host: "127.0.0.1", port: server.port, alias: "silent" },
          });
          const started = Date.now();
          const error = await expectProvctlError(
            "Timeout",
            connectSession(plan, { ...quietAuth, connectTimeoutMs: 500 }),
          );
          const took = Date.now() - started;
          assert.equal(error.key, "ssh.handshake_timeout");
          assert.equal(error.params.where, `silent:${server.port}`);
          assert.match(String(error.params.stage), stage);
          assert.ok(took >= 450 && took < 3000, `took ${took} ms`);
        } finally {
          await server.close();
        }
      });

      await t.step(
        `${banner ? "banner, then silence" : "no banner"}: via a jump host`,
        async () => {
          const server = stallingListener(banner);
          try {
            const plan = planOf(fleet, 0, {
              hops: [0],
              overrides: { host: "127.0.0.1", port: server.port, alias: "silent" },
            });
            const error = await expectProvctlError(
              "Timeout",
              // Long enough for the real jump host's own handshake on a busy machine.
              connectSession(plan, { ...quietAuth, connectTimeoutMs: 3000 }),
            );
            assert.equal(error.key, "ssh.handshake_timeout");
            assert.equal(error.params.where, `target silent:${server.port}`);
            assert.match(String(error.params.stage), stage);
          } finally {
            await server.close();
          }
        },
      );
    }

    await t.step("retried like a connect timeout, and never a command timeout", async () => {
      const server = stallingListener(true);
      const pool = new SshPool({
        connect: { ...quietAuth, connectTimeoutMs: 300 },
        retry: { ...NO_RETRY, attempts: 2 },
      });
      try {
        const plan = planOf(fleet, 0, { overrides: { host: "127.0.0.1", port: server.port } });
        // A command timeout shorter than connect + retry must not be what fires.
        const runner = new SshRunner({ plan, pool, commandTimeoutMs: 200 });
        const error = await expectProvctlError("Timeout", runner.run("true", []));
        assert.equal(error.key, "ssh.handshake_timeout");
        assert.equal(server.accepted.length, 2, "two attempts");
      } finally {
        await pool.close();
        await server.close();
      }
    });

    await t.step(
      "CLI exec: exit 255 with the handshake message; the command timeout (shorter than the connect attempts) does not count connecting",
      async () => {
        const server = stallingListener(false);
        const cli = await cliSandbox();
        try {
          const config = `${cli.dir}/ssh_config`;
          await Deno.writeTextFile(
            config,
            `Host *\n  User root\n  ConnectTimeout 1\n  UserKnownHostsFile ${fleet.knownHosts}\n`,
          );
          const started = Date.now();
          const result = await cli.run(
            [
              "exec",
              "--host",
              `127.0.0.1:${server.port}`,
              "--ssh-config",
              config,
              "--timeout",
              "1500",
              "--",
              "true",
            ],
            { env: { SSH_AUTH_SOCK: "" } },
          );
          assert.equal(result.code, 255, result.stderr);
          assert.match(
            result.stderr,
            /connect timeout expired after 1000 ms: the TCP connection was accepted but the server never sent an SSH banner/,
          );
          assert.match(result.stderr, /hint: no command ran/);
          assert.doesNotMatch(result.stderr, /command timeout/);
          assert.ok(Date.now() - started < 15_000);
          assert.equal(server.accepted.length, 3, "ssh.retry_attempts = 3");
        } finally {
          await cli.cleanup();
          await server.close();
        }
      },
    );
  } finally {
    await fleet.stop();
  }
});
