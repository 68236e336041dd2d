/**
 * `provctl exec`, `provctl hostkey show|scan|trust` and `provctl hosts breakers` through
 * the real CLI against real sshd servers on loopback. Fingerprints are compared with
 * what OpenSSH's own ssh-keygen prints; known_hosts lines written by provctl are looked
 * up with `ssh-keygen -F`.
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
if (skip) console.warn(`ssh_commands_test: skipped: ${skip}`);

interface Setup {
  fleet: SshdFleet;
  cli: CliSandbox;
  /** known_hosts of the "stranger" alias (the target, not recorded at first). */
  strangerKnownHosts: string;
  /** Port of the "dead" alias: nothing listens there. */
  deadPort: number;
  provctl(args: string[], env?: Record<string, string>): Promise<CliResult>;
  spawn(args: string[]): Deno.ChildProcess;
}

/**
 * Aliases: target (host 2, direct), viajump (host 2 through ProxyJump jump = host 1),
 * stranger (host 2 with an empty known_hosts), dead (a port nothing listens on).
 */
async function setup(): Promise<Setup> {
  const fleet = await startSshdFleet({ count: 2 });
  const cli = await cliSandbox();
  const [jump, target] = fleet.hosts;
  const strangerKnownHosts = `${cli.dir}/stranger_known_hosts`;
  await Deno.writeTextFile(strangerKnownHosts, "");
  const deadPort = freePort(jump.address);
  const config = `${cli.dir}/ssh_config`;
  await Deno.writeTextFile(
    config,
    [
      "Host target viajump stranger",
      `  HostName ${target.address}`,
      `  Port ${target.port}`,
      "Host viajump",
      "  ProxyJump jump",
      "Host stranger",
      `  UserKnownHostsFile ${strangerKnownHosts}`,
      "Host jump",
      `  HostName ${jump.address}`,
      `  Port ${jump.port}`,
      "Host dead",
      `  HostName ${jump.address}`,
      `  Port ${deadPort}`,
      "Host *",
      "  User root",
      `  IdentityFile ${fleet.clientKey}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${fleet.knownHosts}`,
      "",
    ].join("\n"),
  );
  // Fail fast and open breakers after 2 failures (user config layer of the sandbox).
  await Deno.mkdir(`${cli.dir}/config/provctl`, { recursive: true });
  await Deno.writeTextFile(
    `${cli.dir}/config/provctl/defaults.toml`,
    "[ssh]\nretry_attempts = 1\nbreaker_threshold = 2\nbreaker_cooldown_ms = 600000\n",
  );
  // --ssh-config goes before "--": what follows it is the remote command.
  const withConfig = (args: string[]) => {
    const at = args.includes("--") ? args.indexOf("--") : args.length;
    return [...args.slice(0, at), "--ssh-config", config, ...args.slice(at)];
  };
  const env = { SSH_AUTH_SOCK: "" };
  return {
    fleet,
    cli,
    strangerKnownHosts,
    deadPort,
    provctl: (args, extra = {}) => cli.run(withConfig(args), { env: { ...env, ...extra } }),
    spawn: (args) => cli.spawn(withConfig(args), { env }),
  };
}

async function teardown(s: Setup): Promise<void> {
  await s.cli.cleanup();
  await s.fleet.stop();
}

/** "SHA256:..." or "MD5:..." of a public key file, as ssh-keygen prints it. */
async function keygenFingerprint(pubFile: string, hash: "sha256" | "md5"): Promise<string> {
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-E", hash, "-lf", pubFile],
    stdout: "piped",
  }).output();
  assert.ok(out.success, `ssh-keygen -lf ${pubFile} failed`);
  return new TextDecoder().decode(out.stdout).split(" ")[1];
}

async function keygenFinds(knownHosts: string, name: string): Promise<boolean> {
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-F", name, "-f", knownHosts],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

Deno.test({
  name: "provctl exec: exact arguments, --shell, streams, exit codes, Ctrl-C, 255",
  ignore: skip !== undefined,
  async fn(t) {
    const s = await setup();
    const exec = (...args: string[]) => s.provctl(["exec", "--host", "target", ...args]);
    try {
      await t.step("the remote exit code is provctl's", async () => {
        const code7 = await exec("--", "sh", "-c", "exit 7");
        assert.equal(code7.code, 7, code7.stderr);
        assert.equal(code7.stderr, "");
        assert.equal((await exec("--shell", "exit 7")).code, 7);
        assert.equal((await exec("--", "true")).code, 0);
        // Killed by a signal: 128 + N, as a shell reports it.
        assert.equal((await exec("--shell", "kill -TERM $$")).code, 128 + 15);
      });

      await t.step("hostile arguments reach the remote program byte for byte", async () => {
        const marker = `${s.cli.dir}/injected`;
        const hostile = [
          "a b",
          `$(touch ${marker})`,
          `\`touch ${marker}\``,
          `; touch ${marker}`,
          `&& touch ${marker}`,
          "|",
          "it's",
          "'",
          '"double"',
          "\\back\\slash\\",
          "*",
          "~",
          "$HOME",
          "${PATH}",
          "-n",
          "--",
          "",
          " leading and trailing ",
          "new\nline",
          "tab\there",
          "ünïcødé ✓",
          "!event",
          "#comment",
        ];
        const result = await exec("--", "printf", "%s\\n", ...hostile);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, hostile.map((a) => `${a}\n`).join(""));
        assert.equal(result.stderr, "");
        await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
      });

      await t.step("--shell runs a shell string on purpose", async () => {
        const piped = await exec("--shell", "echo a | tr a b");
        assert.equal(piped.code, 0, piped.stderr);
        assert.equal(piped.stdout, "b\n");
        // Without --shell the same words are one argument each: no pipe happens.
        const literal = await exec("--", "echo", "a", "|", "tr", "a", "b");
        assert.equal(literal.stdout, "a | tr a b\n");
      });

      await t.step("stdout stays stdout, stderr stays stderr", async () => {
        const result = await exec("--", "sh", "-c", "echo to-out; echo to-err >&2; echo more-out");
        assert.equal(result.code, 0);
        assert.equal(result.stdout, "to-out\nmore-out\n");
        assert.equal(result.stderr, "to-err\n");
      });

      await t.step("usage mistakes are exit 2", async () => {
        const none = await exec();
        assert.equal(none.code, 2);
        assert.match(none.stderr, /^provctl: error: exec needs a command/);
        const both = await exec("--shell", "true", "--", "true");
        assert.equal(both.code, 2);
        assert.match(both.stderr, /not both/);
        const local = await s.provctl(["exec", "--", "true"]);
        assert.equal(local.code, 2);
        assert.match(
          local.stderr,
          /^provctl: error: exec runs a command on other machines.*--host/,
        );
      });

      await t.step("output streams as it comes; Ctrl-C kills the remote command", async () => {
        const child = s.spawn([
          "exec",
          "--host",
          "target",
          "--shell",
          "echo started; sleep 300 & echo $!; wait",
        ]);
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!/started\n\d+\n/.test(seen)) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
        // Printed while the command still runs (it would take 300 s to end).
        const sleepPid = Number(/started\n(\d+)\n/.exec(seen)?.[1]);
        assert.ok(sleepPid > 0 && processAlive(sleepPid), seen);
        child.kill("SIGINT");
        const status = await child.status;
        await reader.cancel();
        await child.stderr.cancel();
        assert.equal(status.code, 130);
        await waitFor("remote sleep killed", () => !processAlive(sleepPid));
      });

      await t.step(
        "a reader that goes away (| head) ends provctl and the remote command",
        async () => {
          const child = s.spawn([
            "exec",
            "--host",
            "target",
            "--timeout",
            "0",
            "--shell",
            "echo $$; exec yes",
          ]);
          const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let seen = "";
          while (!/^\d+\n/.test(seen)) {
            const { value, done } = await reader.read();
            if (done) break;
            seen += value;
          }
          const remotePid = Number(/^(\d+)\n/.exec(seen)?.[1]);
          assert.ok(remotePid > 0 && processAlive(remotePid), seen);
          // As `| head -1` does: read no more, close the pipe.
          await reader.cancel();
          const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          const status = await child.status;
          clearTimeout(timer);
          const stderr = await new Response(child.stderr).text();
          assert.notEqual(status.signal, "SIGKILL", "provctl went on after its reader left");
          assert.equal(status.code, 128 + 13, stderr); // as a program ended by SIGPIPE
          assert.equal(stderr, "");
          await waitFor("remote yes ended", () => !processAlive(remotePid));
        },
      );

      await t.step("ssh.command_timeout_ms kills the remote command: 255, named", async () => {
        const dir = `${s.cli.dir}/short-timeout`;
        await Deno.mkdir(dir);
        await Deno.writeTextFile(`${dir}/defaults.toml`, "[ssh]\ncommand_timeout_ms = 700\n");
        const started = Date.now();
        const result = await exec("--config-dir", dir, "--shell", "sleep 300 & echo $!; wait");
        assert.ok(Date.now() - started < 30_000);
        assert.equal(result.code, 255, result.stderr);
        assert.match(
          result.stderr,
          /^provctl: error: target: command timeout expired after 700 ms\nhint: .*command_timeout_ms/,
        );
        const sleepPid = Number(result.stdout.trim());
        assert.ok(sleepPid > 0, result.stdout);
        await waitFor("remote sleep killed", () => !processAlive(sleepPid));
      });

      await t.step("cannot run at all: 255 and one error line", async () => {
        const refused = await s.provctl(["exec", "--host", "dead", "--", "true"]);
        assert.equal(refused.code, 255);
        assert.equal(refused.stdout, "");
        const lines = refused.stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, refused.stderr);
        assert.match(
          lines[0],
          new RegExp(`^provctl: error: dead:${s.deadPort}: connection refused`),
        );

        const unknown = await s.provctl(["exec", "--host", "stranger", "--", "true"]);
        assert.equal(unknown.code, 255);
        assert.match(unknown.stderr, /^provctl: error: host key for .* is not known/);
        assert.match(unknown.stderr, /\nhint: .*provctl hostkey trust/);
        assert.equal(await Deno.readTextFile(s.strangerKnownHosts), "");
      });
    } finally {
      await teardown(s);
    }
  },
});

Deno.test({
  name: "provctl hostkey show, scan and trust (known, unknown, through a jump host, changed)",
  ignore: skip !== undefined,
  async fn(t) {
    const s = await setup();
    const target = s.fleet.hosts[1];
    const name = `[${target.address}]:${target.port}`;
    const pub = `${target.hostKeyFile}.pub`;
    try {
      const sha256 = await keygenFingerprint(pub, "sha256");
      const md5 = await keygenFingerprint(pub, "md5");

      await t.step("show: the matching known_hosts lines with both fingerprints", async () => {
        const text = await s.provctl(["hostkey", "show", "target"]);
        assert.equal(text.code, 0, text.stderr);
        const [header, row, ...rest] = text.stdout.trimEnd().split("\n");
        assert.match(header, /^ENTRY\s+TYPE\s+SHA256\s+MD5/);
        // ssh-keyscan wrote one line per host, in fleet order: the target's is line 2.
        assert.deepEqual(row.split(/\s+/), [`${s.fleet.knownHosts}:2`, "ssh-ed25519", sha256, md5]);
        assert.deepEqual(rest, []);

        const json = await s.provctl(["hostkey", "show", "target", "-o", "json"]);
        assert.deepEqual(JSON.parse(json.stdout), {
          host: "target",
          name,
          file: s.fleet.knownHosts,
          line: 2,
          marker: "none",
          key_type: "ssh-ed25519",
          sha256,
          md5,
          error: null,
        });

        const none = await s.provctl(["hostkey", "show", "stranger"]);
        assert.equal(none.code, 3);
        assert.equal(none.stdout, "");
        assert.match(none.stderr, new RegExp(`^provctl: error: no known_hosts entry for \\[`));
        assert.match(
          none.stderr,
          /\nhint: .*provctl hostkey scan stranger.*provctl hostkey trust stranger/,
        );
      });

      await t.step("scan: the presented key, known, without authenticating", async () => {
        const log = `${target.dir}/sshd.log`;
        const before = await Deno.readTextFile(log);
        const scan = await s.provctl(["hostkey", "scan", "target"]);
        assert.equal(scan.code, 0, scan.stderr);
        assert.equal(
          scan.stdout,
          `target (${name}) presents this ssh-ed25519 host key:\n  ${sha256}\n  ${md5}\n` +
            `known: it matches ${s.fleet.knownHosts}:2\n`,
        );
        // Wait for sshd to log the end of that connection: all it logged for it is there.
        let added = "";
        await waitFor("sshd to log the scan's connection closing", async () => {
          added = (await Deno.readTextFile(log)).slice(before.length);
          return /preauth|Connection closed|Disconnected/.test(added);
        });
        assert.match(added, /Connection from/);
        assert.doesNotMatch(added, /Accepted|Failed|Authentication/i);
      });

      await t.step("scan through the jump host", async () => {
        const jumpLog = `${s.fleet.hosts[0].dir}/sshd.log`;
        const before = (await Deno.readTextFile(jumpLog)).length;
        const scan = await s.provctl(["hostkey", "scan", "viajump", "-o", "json"]);
        assert.equal(scan.code, 0, scan.stderr);
        const row = JSON.parse(scan.stdout);
        assert.deepEqual(row, {
          host: "viajump",
          name,
          address: target.address,
          port: target.port,
          key_type: "ssh-ed25519",
          sha256,
          md5,
          status: "known",
          file: s.fleet.knownHosts,
          line: 2,
          expected_sha256: null,
        });
        // The jump host authenticated provctl (hops are connected as usual).
        assert.match((await Deno.readTextFile(jumpLog)).slice(before), /Accepted publickey/);
      });

      await t.step("scan of an unknown host: exit 3, nothing recorded", async () => {
        const scan = await s.provctl(["hostkey", "scan", "stranger", "-o", "json"]);
        assert.equal(scan.code, 3, scan.stderr);
        const row = JSON.parse(scan.stdout);
        assert.equal(row.status, "unknown");
        assert.equal(row.sha256, sha256);
        assert.equal(await Deno.readTextFile(s.strangerKnownHosts), "");
        const text = await s.provctl(["hostkey", "scan", "stranger"]);
        assert.match(text.stdout, /\nunknown: .*provctl hostkey trust stranger/);
      });

      await t.step("trust records a hashed line once", async () => {
        const trust = await s.provctl(["hostkey", "trust", "stranger"]);
        assert.equal(trust.code, 0, trust.stderr);
        assert.equal(
          trust.stdout,
          `Recorded the ssh-ed25519 host key of ${name} (${sha256}) in ${s.strangerKnownHosts}:1, hashed\n`,
        );
        const content = await Deno.readTextFile(s.strangerKnownHosts);
        assert.match(content, /^\|1\|\S+ ssh-ed25519 AAAA\S+\n$/);
        assert.ok(await keygenFinds(s.strangerKnownHosts, name));

        const again = await s.provctl(["hostkey", "trust", "stranger", "-o", "json"]);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(JSON.parse(again.stdout).status, "known");
        assert.equal(await Deno.readTextFile(s.strangerKnownHosts), content);
        const exec = await s.provctl(["exec", "--host", "stranger", "--", "echo", "trusted"]);
        assert.equal(exec.stdout, "trusted\n", exec.stderr);
      });

      await t.step(
        "a changed key: scan says CHANGED, trust refuses and writes nothing",
        async () => {
          await s.fleet.rotateHostKey(1);
          const newSha = await keygenFingerprint(pub, "sha256");
          assert.notEqual(newSha, sha256);
          const known = await Deno.readTextFile(s.fleet.knownHosts);

          const scan = await s.provctl(["hostkey", "scan", "target", "-o", "json"]);
          assert.equal(scan.code, 1, scan.stderr);
          const row = JSON.parse(scan.stdout);
          assert.deepEqual(
            [row.status, row.sha256, row.expected_sha256, row.line],
            ["changed", newSha, sha256, 2],
          );
          const text = await s.provctl(["hostkey", "scan", "target"]);
          assert.match(text.stdout, new RegExp(`\\nCHANGED: ${s.fleet.knownHosts}:2 records `));

          const trust = await s.provctl(["hostkey", "trust", "target"]);
          assert.equal(trust.code, 1);
          assert.equal(trust.stdout, "");
          assert.match(trust.stderr, /^provctl: error: host key for .* has CHANGED/);
          assert.ok(trust.stderr.includes(sha256) && trust.stderr.includes(newSha), trust.stderr);
          assert.equal(await Deno.readTextFile(s.fleet.knownHosts), known);

          const exec = await s.provctl(["exec", "--host", "target", "--", "true"]);
          assert.equal(exec.code, 255);
          assert.match(exec.stderr, /has CHANGED/);
        },
      );
    } finally {
      await teardown(s);
    }
  },
});

Deno.test({
  name: "provctl hosts breakers: opened by failures across invocations, then reset",
  ignore: skip !== undefined,
  async fn() {
    const s = await setup();
    const host = `${s.fleet.hosts[0].address}:${s.deadPort}`;
    try {
      const empty = await s.provctl(["hosts", "breakers"]);
      assert.equal(empty.code, 0);
      assert.equal(empty.stdout, "");
      assert.match(empty.stderr, /^No circuit breakers/);

      // Two separate provctl processes fail to connect: the breaker (threshold 2) opens.
      for (let i = 0; i < 2; i++) {
        const failed = await s.provctl(["exec", "--host", "dead", "--", "true"]);
        assert.equal(failed.code, 255);
        assert.match(failed.stderr, /connection refused/);
      }
      const rows = (await s.provctl(["hosts", "breakers", "-o", "json"])).stdout.trimEnd()
        .split("\n").map((l) => JSON.parse(l));
      assert.equal(rows.length, 1);
      const [row] = rows;
      assert.deepEqual([row.host, row.state, row.failures], [host, "open", 2]);
      assert.ok(Date.parse(row.next_probe) > Date.now() + 500_000, row.next_probe);
      assert.ok(!Number.isNaN(Date.parse(row.opened_at)));
      assert.match(row.last_error, /ECONNREFUSED/);

      // A third invocation fails fast on the open circuit.
      const fast = await s.provctl(["exec", "--host", "dead", "--", "true"]);
      assert.equal(fast.code, 255);
      assert.match(fast.stderr, /circuit open after 2 consecutive connection failures/);
      assert.match(fast.stderr, /\nhint: .*provctl hosts breakers --reset/);

      const table = await s.provctl(["hosts", "breakers"]);
      assert.equal(table.code, 0);
      assert.match(
        table.stdout,
        /^HOST\s+STATE\s+FAILURES\s+OPENED AT\s+NEXT PROBE\s+LAST ERROR\n/,
      );
      assert.match(
        table.stdout,
        new RegExp(`\\n${host}\\s+open\\s+2\\s+\\S+Z\\s+\\S+Z\\s+.*ECONNREFUSED`),
      );

      // Reset by ssh_config alias: resolved to the breaker's host:port.
      const reset = await s.provctl(["hosts", "breakers", "--reset", "dead"]);
      assert.equal(reset.code, 0, reset.stderr);
      assert.equal(reset.stdout, `Reset the circuit breaker of ${host}\n`);
      assert.equal((await s.provctl(["hosts", "breakers", "-o", "json"])).stdout, "");
      const retry = await s.provctl(["exec", "--host", "dead", "--", "true"]);
      assert.match(retry.stderr, /connection refused/);

      const missing = await s.provctl(["hosts", "breakers", "--reset", "target"]);
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /^provctl: error: no circuit breaker for target \(known: /);

      const all = await s.provctl(["hosts", "breakers", "--reset", "all", "-o", "json"]);
      assert.equal(all.code, 0);
      assert.deepEqual(JSON.parse(all.stdout), { reset: [host] });
      const nothing = await s.provctl(["hosts", "breakers", "--reset", "all"]);
      assert.equal(nothing.stdout, "No circuit breakers to reset\n");
    } finally {
      await teardown(s);
    }
  },
});
