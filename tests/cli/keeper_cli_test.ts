/**
 * The connection keeper from the CLI: with ssh.persist_ms set, invocations share one SSH
 * login; `hosts connections` lists it, `--close` stops it, `--no-persist` bypasses it,
 * and an unsafe socket dir is refused with a warning (the command connects directly).
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";

const skip = fleetUnavailable();

function keeperPids(): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (cmdline.includes("__keeper")) pids.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return pids;
}

Deno.test({
  name: "CLI: ssh.persist_ms keeps connections between invocations",
  ignore: Boolean(skip),
  async fn(t) {
    const fleet = await startSshdFleet({ count: 1 });
    const cli = await cliSandbox();
    const before = new Set(keeperPids());
    const host = fleet.hosts[0];
    const logins = () =>
      (Deno.readTextFileSync(`${host.dir}/sshd.log`).match(/Accepted publickey/g) ?? []).length;
    try {
      const config = `${cli.dir}/ssh_config`;
      await Deno.writeTextFile(
        config,
        [
          "Host web",
          `  HostName ${host.address}`,
          `  Port ${host.port}`,
          "  User root",
          `  IdentityFile ${fleet.clientKey}`,
          `  UserKnownHostsFile ${fleet.knownHosts}`,
          "",
        ].join("\n"),
      );
      await Deno.mkdir(`${cli.dir}/config/provctl`, { recursive: true });
      await Deno.writeTextFile(
        `${cli.dir}/config/provctl/defaults.toml`,
        "[ssh]\npersist_ms = 20000\n",
      );
      const run = (args: string[], env: Record<string, string> = {}) => {
        const at = args.includes("--") ? args.indexOf("--") : args.length;
        return cli.run([...args.slice(0, at), "--ssh-config", config, ...args.slice(at)], {
          env: { SSH_AUTH_SOCK: "", ...env },
        });
      };

      await t.step("two invocations, one SSH login", async () => {
        const start = logins();
        for (const word of ["one", "two"]) {
          const r = await run(["exec", "--host", "web", "--", "echo", word]);
          assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${word}\n`, ""]);
        }
        const status = await run(["status", "api", "--host", "web"]);
        assert.equal(status.code, 3, status.stderr);
        assert.equal(logins() - start, 1);
      });

      await t.step("hosts connections lists what the keeper holds", async () => {
        const text = await cli.run(["hosts", "connections"]);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /^HOST +VIA +IDLE +IN USE +REUSED\n/);
        assert.match(text.stdout, new RegExp(`root@${host.address}:${host.port} `));
        const json = await cli.run(["hosts", "connections", "-o", "json"]);
        const row = JSON.parse(json.stdout.trim());
        assert.equal(row.target, `root@${host.address}:${host.port}`);
        assert.deepEqual([row.idle, row.busy, row.created], [1, 0, 1]);
        assert.ok(row.reused >= 2);
      });

      await t.step("--no-persist connects directly", async () => {
        const start = logins();
        const r = await run(["exec", "--host", "web", "--no-persist", "--", "true"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(logins() - start, 1);
      });

      await t.step("hosts connections --close stops the keeper", async () => {
        const r = await cli.run(["hosts", "connections", "--close"]);
        assert.deepEqual([r.code, r.stdout], [
          0,
          "Stopped the SSH connection keeper; its connections are closed\n",
        ]);
        const after = await cli.run(["hosts", "connections"]);
        assert.match(after.stderr, /No SSH connection keeper is running/);
      });

      await t.step(
        "an unsafe socket dir is refused with a warning; the command still runs",
        async () => {
          const runtime = `${cli.dir}/runtime`;
          await Deno.mkdir(`${runtime}/provctl`, { recursive: true });
          await Deno.chmod(`${runtime}/provctl`, 0o755);
          const r = await run(["exec", "--host", "web", "--", "echo", "ok"], {
            XDG_RUNTIME_DIR: runtime,
          });
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "ok\n");
          assert.match(
            r.stderr,
            /^warning: refusing the SSH connection keeper's .*runtime\/provctl: mode 0755;/,
          );
          await assert.rejects(Deno.lstat(`${runtime}/provctl/keeper.sock`), Deno.errors.NotFound);
        },
      );
    } finally {
      await cli.cleanup();
      await fleet.stop();
      // Every keeper this test started exits once its socket dir is gone.
      const end = Date.now() + 10_000;
      let left = keeperPids().filter((p) => !before.has(p));
      while (left.length > 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        left = keeperPids().filter((p) => !before.has(p));
      }
      assert.deepEqual(left, [], "no keeper left running");
    }
  },
});
