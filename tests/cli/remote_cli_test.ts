/**
 * End to end through the real CLI against real sshd servers on loopback (the remote is
 * this same machine): a real HTTP server started, inspected, logged and stopped with
 * --host, directly and through a jump host; unknown host keys under strict and
 * accept-new. Every test writes its own ssh_config and passes --ssh-config.
 */
import assert from "node:assert/strict";
import {
  type CliResult,
  type CliSandbox,
  cliSandbox,
  processAlive,
  waitFor,
} from "../helpers/cli.ts";
import { freePort, type SshdFleet, startSshdFleet } from "../fixtures/sshd.ts";
import { fleetUnavailable } from "../helpers/fleet.ts";

const skip = fleetUnavailable();
if (skip) console.warn(`remote_cli_test: skipped: ${skip}`);

/** Host aliases: target (direct), jump, and viajump (the target through ProxyJump jump). */
async function writeSshConfig(
  path: string,
  fleet: SshdFleet,
  options: { knownHosts?: string } = {},
): Promise<void> {
  const [jump, target] = fleet.hosts;
  await Deno.writeTextFile(
    path,
    [
      "Host target",
      `  HostName ${target.address}`,
      `  Port ${target.port}`,
      "Host viajump",
      `  HostName ${target.address}`,
      `  Port ${target.port}`,
      "  ProxyJump jump",
      "Host jump",
      `  HostName ${jump.address}`,
      `  Port ${jump.port}`,
      "Host *",
      "  User root",
      `  IdentityFile ${fleet.clientKey}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${options.knownHosts ?? fleet.knownHosts}`,
      "",
    ].join("\n"),
  );
}

/** Runs provctl with --ssh-config and no ssh-agent from the outer environment. */
function runner(cli: CliSandbox, config: string) {
  return (args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    // Before "--": what follows it is the service's command.
    const at = args.includes("--") ? args.indexOf("--") : args.length;
    const withConfig = [...args.slice(0, at), "--ssh-config", config, ...args.slice(at)];
    return cli.run(withConfig, { env: { SSH_AUTH_SOCK: "", ...env } });
  };
}

async function lineCount(path: string, pattern: RegExp): Promise<number> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((l) => pattern.test(l)).length;
}

Deno.test({
  name:
    "remote service over SSH: start, status, logs, stop with --host, and status via a jump host",
  ignore: skip !== undefined,
  async fn(t) {
    // DEBUG1 makes sshd log each direct-tcpip (jump) request it serves.
    const fleet = await startSshdFleet({ count: 2, logLevel: "DEBUG1" });
    const cli = await cliSandbox();
    const config = `${cli.dir}/ssh_config`;
    await writeSshConfig(config, fleet);
    const provctl = runner(cli, config);
    const [jump, target] = fleet.hosts;
    const jumpLog = `${jump.dir}/sshd.log`;
    const targetLog = `${target.dir}/sshd.log`;
    const forwardedToTarget = new RegExp(
      `direct.tcpip.*target ${target.address.replaceAll(".", "\\.")} port ${target.port}\\b`,
    );
    try {
      const port = freePort("127.0.0.1");
      let pid = 0;

      await t.step("start --host target --backend pidfile runs the server there", async () => {
        const start = await provctl([
          "start",
          "web",
          "--host",
          "target",
          "--backend",
          "pidfile",
          "--",
          "python3",
          "-m",
          "http.server",
          String(port),
          "--bind",
          "127.0.0.1",
        ]);
        assert.equal(start.code, 0, start.stderr);
        assert.match(start.stdout, /^target: Started web \(PID \d+, backend pidfile\)\n$/);
        pid = Number(/PID (\d+)/.exec(start.stdout)?.[1]);
        assert.ok(processAlive(pid));
        // The "remote" state went to PROVCTL_STATE_DIR, not to root's home.
        const pidFile = await Deno.readTextFile(`${cli.stateDir}/run/web.pid`);
        assert.equal(/^pid=(\d+)$/m.exec(pidFile)?.[1], String(pid));
        await waitFor("http server", async () => {
          try {
            return (await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())).includes(
              "Directory listing",
            );
          } catch {
            return false;
          }
        });
      });

      await t.step("status --host target: running, with the host", async () => {
        const status = await provctl(["status", "--host", "target"]);
        assert.equal(status.code, 0, status.stderr);
        assert.match(
          status.stdout,
          new RegExp(
            `^HOST\\s+NAME\\s+BACKEND\\s+STATE\\s+PID\\s+UPTIME\\ntarget\\s+web\\s+pidfile\\s+running\\s+${pid}\\s+\\d+s\\n$`,
          ),
        );
        const json = await provctl(["status", "web", "--host", "target", "-o", "json"]);
        assert.equal(json.code, 0, json.stderr);
        const row = JSON.parse(json.stdout);
        assert.deepEqual(
          {
            name: row.name,
            machine: row.machine,
            backend: row.backend,
            state: row.state,
            pid: row.pid,
          },
          { name: "web", machine: "target", backend: "pidfile", state: "running", pid },
        );
      });

      await t.step("logs --host target shows the server's log", async () => {
        await waitFor("request in the remote log", async () => {
          const logs = await provctl(["logs", "web", "--host", "target"]);
          assert.equal(logs.code, 0, logs.stderr);
          return logs.stdout.includes('"GET / HTTP/1.1" 200');
        });
      });

      await t.step("status through the jump host (ProxyJump and --jump)", async () => {
        const direct = await lineCount(jumpLog, forwardedToTarget);
        const accepted = await lineCount(targetLog, /Accepted publickey/);
        const via = await provctl(["status", "web", "--host", "viajump", "-o", "json"]);
        assert.equal(via.code, 0, via.stderr);
        assert.equal(JSON.parse(via.stdout).pid, pid);
        assert.equal(JSON.parse(via.stdout).machine, "viajump");
        // The path: the jump host's sshd opened the connection to the target.
        await waitFor(
          `a direct-tcpip line in ${jumpLog}`,
          async () => await lineCount(jumpLog, forwardedToTarget) > direct,
        ).catch(async (e) => {
          console.error(await Deno.readTextFile(jumpLog));
          throw e;
        });
        assert.ok(await lineCount(targetLog, /Accepted publickey/) > accepted);

        const before = await lineCount(jumpLog, forwardedToTarget);
        const flag = await provctl(["status", "web", "--host", "target", "--jump", "jump"]);
        assert.equal(flag.code, 0, flag.stderr);
        assert.match(flag.stdout, new RegExp(`target\\s+web\\s+pidfile\\s+running\\s+${pid}`));
        await waitFor("jump log", async () => await lineCount(jumpLog, forwardedToTarget) > before);

        // A direct status does not go through the jump host.
        const after = await lineCount(jumpLog, forwardedToTarget);
        assert.equal((await provctl(["status", "web", "--host", "target"])).code, 0);
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(await lineCount(jumpLog, forwardedToTarget), after);
      });

      await t.step("stop --host target stops it", async () => {
        const stop = await provctl(["stop", "web", "--host", "target"]);
        assert.equal(stop.code, 0, stop.stderr);
        assert.equal(stop.stdout, "target: Stopped web\n");
        await waitFor("server gone", () => !processAlive(pid));
        const after = await provctl(["status", "web", "--host", "target"]);
        assert.equal(after.code, 3);
        assert.match(after.stdout, /target\s+web\s+pidfile\s+not running/);
      });

      let systemd = false;
      try {
        Deno.statSync("/run/systemd/system");
        systemd = true;
      } catch { /* no systemd: auto-detection must pick pidfile */ }
      await t.step({
        name: "without --backend: auto-detection on the remote picks pidfile",
        // With systemd running, auto would install a real unit on this machine.
        ignore: systemd,
        fn: async () => {
          const start = await provctl(
            ["start", "auto", "--host", "target", "--", "sleep", "300"],
            { PROVCTL_BACKEND: "auto" },
          );
          assert.equal(start.code, 0, start.stderr);
          assert.match(start.stdout, /^target: Started auto \(PID \d+, backend pidfile\)\n$/);
          const autoPid = Number(/PID (\d+)/.exec(start.stdout)?.[1]);
          assert.ok(processAlive(autoPid));
          const stop = await provctl(["stop", "auto", "--host", "target"], {
            PROVCTL_BACKEND: "auto",
          });
          assert.equal(stop.code, 0, stop.stderr);
          await waitFor("sleep gone", () => !processAlive(autoPid));
        },
      });
    } finally {
      await cli.cleanup();
      await fleet.stop();
    }
  },
});

Deno.test({
  name: "unknown host key: strict refuses and writes nothing; accept-new records it once",
  ignore: skip !== undefined,
  async fn() {
    const fleet = await startSshdFleet({ count: 2 });
    const cli = await cliSandbox();
    try {
      const knownHosts = `${cli.dir}/known_hosts`;
      await Deno.writeTextFile(knownHosts, "");
      const config = `${cli.dir}/ssh_config`;
      await writeSshConfig(config, fleet, { knownHosts });
      const provctl = runner(cli, config);
      const target = fleet.hosts[1];

      const strict = await provctl(["status", "--host", "target"]);
      assert.equal(strict.code, 1, strict.stderr);
      const [error, hint, ...rest] = strict.stderr.trimEnd().split("\n");
      assert.match(
        error,
        new RegExp(
          `^provctl: error: host key for \\[${target.address}\\]:${target.port} is not known`,
        ),
      );
      assert.match(hint, /^hint: check SHA256:\S+ .*provctl hostkey trust/);
      assert.deepEqual(rest, []);
      assert.equal(strict.stdout, "");
      assert.equal(await Deno.readTextFile(knownHosts), "");

      const first = await provctl([
        "status",
        "--host",
        "target",
        "--host-key-policy",
        "accept-new",
      ]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(
        first.stderr,
        new RegExp(`new host key recorded in ${knownHosts} \\(accept-new\\)`),
      );
      const lines = (await Deno.readTextFile(knownHosts)).trimEnd().split("\n");
      assert.equal(lines.length, 1);
      assert.match(lines[0], /^\|1\|[^ ]+ ssh-ed25519 AAAA/);
      // Real OpenSSH finds the hashed line.
      const found = await new Deno.Command("ssh-keygen", {
        args: ["-F", `[${target.address}]:${target.port}`, "-f", knownHosts],
        stdout: "piped",
      }).output();
      assert.ok(found.success, "ssh-keygen -F does not find the recorded host");

      const second = await provctl([
        "status",
        "--host",
        "target",
        "--host-key-policy",
        "accept-new",
      ]);
      assert.equal(second.code, 0, second.stderr);
      assert.doesNotMatch(second.stderr, /recorded/);
      assert.equal((await Deno.readTextFile(knownHosts)).trimEnd().split("\n").length, 1);
      const scan = await provctl(["hostkey", "scan", "target"]);
      assert.equal(scan.code, 0, scan.stderr);
      assert.match(scan.stdout, new RegExp(`known: it matches ${knownHosts}:1\\n$`));
      // Now strict accepts it too.
      assert.equal((await provctl(["status", "--host", "target"])).code, 0);
    } finally {
      await cli.cleanup();
      await fleet.stop();
    }
  },
});

Deno.test({
  name: "host key policy off: unknown host warned once; a CHANGED key is still a hard error",
  ignore: skip !== undefined,
  async fn() {
    const fleet = await startSshdFleet({ count: 2 });
    const cli = await cliSandbox();
    try {
      const knownHosts = `${cli.dir}/known_hosts`;
      await Deno.writeTextFile(knownHosts, "");
      const config = `${cli.dir}/ssh_config`;
      await writeSshConfig(config, fleet, { knownHosts });
      const provctl = runner(cli, config);
      const off = ["--host-key-policy", "off"];

      // Unknown host, through a jump host (two connections): one warning per host.
      const unknown = await provctl(["exec", "--host", "viajump", ...off, "--", "echo", "hi"]);
      assert.equal(unknown.code, 0, unknown.stderr);
      assert.equal(unknown.stdout, "hi\n");
      const warnings = unknown.stderr.split("\n").filter((l) => /NOT verified/.test(l));
      assert.equal(warnings.length, 2, unknown.stderr);
      assert.match(warnings[0], /^warning: hop 1 of 1 \(jump:\d+\): the host key of /);
      assert.match(warnings[1], /^warning: target viajump:\d+: the host key of /);
      assert.equal(await Deno.readTextFile(knownHosts), "", "off records nothing");

      // A known key: verified, so no warning.
      await Deno.copyFile(fleet.knownHosts, knownHosts);
      const known = await provctl(["exec", "--host", "target", ...off, "--", "true"]);
      assert.equal(known.code, 0, known.stderr);
      assert.equal(known.stderr, "");

      // A changed key: refused as with strict, whatever the policy.
      await fleet.rotateHostKey(1);
      const changed = await provctl(["exec", "--host", "target", ...off, "--", "true"]);
      assert.equal(changed.code, 255, changed.stderr);
      assert.match(changed.stderr, /has CHANGED: expected SHA256:/);
      assert.doesNotMatch(changed.stderr, /NOT verified/);
    } finally {
      await cli.cleanup();
      await fleet.stop();
    }
  },
});
