/**
 * The connection keeper from the CLI: with ssh.persist_ms set, invocations share one SSH
 * login; `hosts connections` lists it, `--close` stops it, `--no-persist` bypasses it,
 * and an unsafe socket dir is refused with a warning (the command connects directly).
 */
import assert from "node:assert/strict";
import { cliSandbox, processAlive, waitFor } from "../helpers/cli.ts";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { keeperSocket } from "../../src/ssh/_keeper_wire.ts";

const skip = fleetUnavailable();
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

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

      await t.step("a client killed while its output waits unread: the command ends", async () => {
        const pidFile = `${cli.dir}/yes.pid`;
        const child = cli.spawn(
          ["exec", "--host", "web", "--ssh-config", config, "--timeout", "0", "--shell"].concat(
            `echo $$ > '${pidFile}'; exec yes`,
          ),
          { env: { SSH_AUTH_SOCK: "" } },
        );
        // Nothing reads provctl's stdout: the pipe, the keeper's socket and the channel fill.
        await waitFor("the remote command", async () => {
          const text = await Deno.readTextFile(pidFile).catch(() => "");
          return text.endsWith("\n");
        });
        await new Promise((r) => setTimeout(r, 1500));
        const pid = Number((await Deno.readTextFile(pidFile)).trim());
        assert.ok(processAlive(pid));
        child.kill("SIGKILL");
        await child.status;
        await child.stdout.cancel();
        await child.stderr.cancel();
        await waitFor("the remote command to end", () => !processAlive(pid));
      });

      await t.step("hosts connections lists what the keeper holds", async () => {
        const text = await cli.run(["hosts", "connections"]);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /^HOST +VIA +IDLE +IN USE +REUSED\n/);
        assert.match(text.stdout, new RegExp(`root@${host.address}:${host.port} `));
        // No $XDG_RUNTIME_DIR here: the socket is in the state dir, private.
        const socket = await Deno.lstat(keeperSocket(`${cli.stateDir}/keeper`));
        // One keeper per machine in a shared state dir: both names carry the host name.
        const names = [...Deno.readDirSync(`${cli.stateDir}/keeper`)].map((e) => e.name).sort();
        assert.deepEqual(
          names,
          [
            `keeper-${Deno.hostname()}.lock`,
            `keeper-v2-${Deno.hostname()}.sock`,
          ].sort(),
        );
        assert.equal(socket.mode! & 0o777, 0o600);
        assert.equal((await Deno.lstat(`${cli.stateDir}/keeper`)).mode! & 0o777, 0o700);
        const json = await cli.run(["hosts", "connections", "-o", "json"]);
        const row = JSON.parse(json.stdout.trim());
        assert.equal(row.target, `root@${host.address}:${host.port}`);
        assert.deepEqual([row.idle, row.busy, row.created], [1, 0, 1]);
        assert.ok(row.reused >= 2);
      });

      await t.step("a stopped (hung) keeper: direct within seconds, errors not hangs", async () => {
        const [pid] = keeperPids().filter((p) => !before.has(p));
        assert.ok(pid, "the keeper runs");
        Deno.kill(pid, "SIGSTOP"); // its socket still accepts: only the ack tells
        try {
          let started = Date.now();
          const r = await run(["exec", "--host", "web", "--", "echo", "direct"]);
          assert.deepEqual([r.code, r.stdout, r.stderr], [0, "direct\n", ""]);
          assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
          for (const args of [["hosts", "connections"], ["hosts", "connections", "--close"]]) {
            started = Date.now();
            const list = await cli.run(args);
            assert.equal(list.code, 1, list.stderr);
            assert.match(
              list.stderr,
              /^provctl: error: the SSH connection keeper \(.*\) did not answer within 3000 ms; it may be stopped or hung\nhint: /,
            );
            assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
          }
        } finally {
          Deno.kill(pid, "SIGCONT");
        }
      });

      await t.step(
        "a keeper stopped mid-command: --timeout and Ctrl-C still end exec",
        async () => {
          const [pid] = keeperPids().filter((p) => !before.has(p));
          assert.ok(pid, "the keeper runs");
          const start = (extra: string[]) => {
            const child = cli.spawn(
              ["exec", "--host", "web", "--ssh-config", config, ...extra, "--", "sh", "-c"].concat(
                "echo started; exec sleep 30",
              ),
              { env: { SSH_AUTH_SOCK: "" } },
            );
            return child;
          };
          const waitStarted = async (child: Deno.ChildProcess) => {
            const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
            let seen = "";
            while (!seen.includes("started\n")) {
              const { value, done } = await reader.read();
              if (done) break;
              seen += value;
            }
            assert.equal(seen, "started\n");
            return reader;
          };
          for (const how of ["timeout", "SIGINT"] as const) {
            const child = start(how === "timeout" ? ["--timeout", "1000"] : []);
            const reader = await waitStarted(child);
            Deno.kill(pid, "SIGSTOP");
            const at = Date.now();
            try {
              if (how === "SIGINT") child.kill("SIGINT");
              const stderr = new Response(child.stderr).text();
              const status = await child.status;
              await reader.cancel();
              assert.ok(Date.now() - at < 7000, `${how}: took ${Date.now() - at} ms`);
              if (how === "SIGINT") assert.equal(status.code, 130);
              else {
                assert.equal(status.code, 255);
                assert.match(
                  await stderr,
                  /^provctl: error: root@[\d.]+:\d+: the connection keeper stopped answering while the command ran .*it may or may not have run/,
                );
              }
            } finally {
              Deno.kill(pid, "SIGCONT");
            }
          }
        },
      );

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
        // When it says so, it is so: the keeper's socket is gone and nothing more will be
        // written in its dir (a script may remove the state dir right after).
        const sockets = [...Deno.readDirSync(`${cli.stateDir}/keeper`)].filter((e) =>
          e.name.endsWith(".sock")
        );
        assert.deepEqual(sockets, [], "no socket left once --close returns");
        const after = await cli.run(["hosts", "connections"]);
        assert.match(after.stderr, /No SSH connection keeper is running/);
      });

      await t.step("the keeper holds nothing of the invocation that started it", async () => {
        // A caller waiting for the end of a pipe the invocation inherited (fd 9 here; a
        // shell's process substitution, make's jobserver or a test harness in life) must
        // not wait for the keeper, which outlives the invocation by persist_ms.
        assert.deepEqual(keeperPids().filter((p) => !before.has(p)), [], "none runs yet");
        const started = Date.now();
        const out = await new Deno.Command("sh", {
          args: [
            "-c",
            'exec "$@" 9>&1 >/dev/null 2>&1',
            "sh",
            Deno.execPath(),
            "run",
            "--allow-all",
            "--quiet",
            MAIN,
            "exec",
            "--host",
            "web",
            "--ssh-config",
            config,
            "--",
            "true",
          ],
          env: { ...cli.env, SSH_AUTH_SOCK: "" },
          clearEnv: true,
          cwd: cli.dir,
          stdin: "null",
          stdout: "piped",
          stderr: "null",
        }).output();
        assert.equal(out.code, 0);
        const [pid] = keeperPids().filter((p) => !before.has(p));
        assert.ok(pid, "the invocation started a keeper, which still runs");
        assert.ok(Date.now() - started < 10_000, `waited ${Date.now() - started} ms`);
        // A daemon: its own session, cwd /, stdio on /dev/null, no other inherited pipe.
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        assert.equal(Number(fields[3]), pid, "session leader");
        assert.equal(Deno.readLinkSync(`/proc/${pid}/cwd`), "/");
        for (const fd of [0, 1, 2]) {
          assert.equal(Deno.readLinkSync(`/proc/${pid}/fd/${fd}`), "/dev/null");
        }
        const pipes = [...Deno.readDirSync(`/proc/${pid}/fd`)]
          .map((e) => Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`))
          .filter((link) => link.startsWith("pipe:"));
        assert.deepEqual(pipes, []);
        const r = await cli.run(["hosts", "connections", "--close"]);
        assert.equal(r.code, 0, r.stderr);
      });

      await t.step("a runtime dir where nothing can be created: direct, silently", async () => {
        // procfs refuses mkdir as a read-only file system does, to root too.
        const started = Date.now();
        const r = await run(["exec", "--host", "web", "--", "echo", "ok"], {
          XDG_RUNTIME_DIR: `/proc/${Deno.pid}`,
        });
        assert.deepEqual([r.code, r.stdout, r.stderr], [0, "ok\n", ""]);
        assert.ok(Date.now() - started < 4000, "no wait for a keeper that cannot start");
        assert.deepEqual(keeperPids().filter((p) => !before.has(p)), []);
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
          await assert.rejects(
            Deno.lstat(keeperSocket(`${runtime}/provctl`)),
            Deno.errors.NotFound,
          );
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
