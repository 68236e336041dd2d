/**
 * The SSH connection keeper: the runner contract through it, reuse across "invocations",
 * its security checks (socket dir and socket private to the user), host key checks in
 * the keeper, and its faults (stale socket, dropped connection, keeper killed
 * mid-request). Real sshd, real keeper processes (src/main.ts __keeper).
 */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { type SshdFleet, startSshdFleet } from "../fixtures/sshd.ts";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { processAlive } from "../helpers/cli.ts";
import { runRunnerContract, scratchDirectory } from "../exec/runner_contract.ts";
import { planOf, quietAuth } from "./_helpers.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import type { SshSettings } from "../../src/ssh/settings.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import {
  heldConnections,
  KeeperRunner,
  openKeeper,
  STARTED_WAIT_MS,
  stopKeeper,
} from "../../src/ssh/keeper_runner.ts";
import {
  frameWriter,
  keeperDir,
  keeperLock,
  keeperSocket,
  planHash,
  readFrames,
} from "../../src/ssh/_keeper_wire.ts";
import type { ConnectionPlan } from "../../src/ssh/_plan.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const KEEPER = [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN];
const skip = fleetUnavailable();

const SETTINGS: SshSettings = {
  connectTimeoutMs: 5000,
  authTimeoutMs: 5000,
  commandTimeoutMs: 30_000,
  totalTimeoutMs: 60_000,
  retry: { attempts: 1, backoff: "fixed", baseMs: 0, maxMs: 0, jitterPercent: 0 },
  breakerThreshold: 0,
  breakerCooldownMs: 1000,
  poolMaxPerHost: 4,
  poolIdleTimeoutMs: 30_000,
  hostKeyPolicy: "strict",
  keepaliveIntervalMs: 0,
  keepaliveCountMax: 3,
  persistMs: 30_000,
};

/** The PIDs of the keepers started for `dir` (from /proc). */
function keeperPids(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (cmdline.includes("__keeper") && cmdline.includes(dir)) pids.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return pids;
}

/** The PID of the keeper serving `dir`, if one runs. */
function keeperPid(dir: string): number | undefined {
  return keeperPids(dir)[0];
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Stops the keeper serving `dir` and removes the private base directory around it, after
 * every process that writes into it has gone: a keeper that answered "stopping" still
 * unlinks its socket and lock on the way out, and a removal racing that fails with
 * "Directory not empty".
 */
async function removeKeeperBase(dir: string, alsoWaitFor: number[] = []): Promise<void> {
  await stopKeeper(dir).catch(() => false);
  const pids = [...keeperPids(dir), ...alsoWaitFor];
  await waitUntil("the keeper to exit", () => !pids.some(processAlive), 5000).catch(() => {
    for (const pid of pids.filter(processAlive)) {
      try {
        Deno.kill(pid, "SIGKILL");
        Deno.kill(pid, "SIGCONT");
      } catch { /* gone */ }
    }
  });
  await waitUntil("the killed keeper to exit", () => !pids.some(processAlive), 5000);
  await Deno.remove(dir.replace(/\/k$/, ""), { recursive: true });
}

/** A runner like the CLI makes: the keeper when it can be reached, else direct. */
async function keeperRunner(
  dir: string,
  plan: ConnectionPlan,
  notices: string[] = [],
  fallback?: SshPool,
): Promise<KeeperRunner> {
  const socket = await openKeeper(dir, { command: KEEPER });
  assert.ok(socket, "the keeper answers");
  return await runnerAt(socket, plan, notices, fallback);
}

/** A KeeperRunner on `socket` as it is (whatever answers there). */
async function runnerAt(
  socket: string,
  plan: ConnectionPlan,
  notices: string[] = [],
  fallback?: SshPool,
  env: Record<string, string> = {},
): Promise<KeeperRunner> {
  const pool = fallback ?? new SshPool({ connect: quietAuth });
  return new KeeperRunner({
    socket,
    plan,
    hash: await planHash(plan),
    settings: SETTINGS,
    persistMs: SETTINGS.persistMs,
    env,
    notices: {
      security: (key) => notices.push(key),
      note: (key) => notices.push(key),
    },
    commandTimeoutMs: SETTINGS.commandTimeoutMs,
    direct: () => Promise.resolve(new SshRunner({ plan, pool })),
  });
}

async function privateDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "provctl-keeper-" });
  await Deno.chmod(dir, 0o700);
  return `${dir}/k`;
}

function acceptedLogins(fleet: SshdFleet, index: number): number {
  const log = Deno.readTextFileSync(`${fleet.hosts[index].dir}/sshd.log`);
  return (log.match(/Accepted publickey/g) ?? []).length;
}

let contractFleet: SshdFleet | undefined;
runRunnerContract({
  name: "keeper",
  ignore: skip,
  setup: async () => {
    contractFleet = await startSshdFleet({ count: 1 });
    const dir = await privateDir();
    const scratch = await scratchDirectory();
    const runner = await keeperRunner(dir, planOf(contractFleet, 0));
    return {
      runner,
      scratchDir: scratch,
      teardown: async () => {
        await removeKeeperBase(dir);
        await contractFleet?.stop();
        await Deno.remove(scratch, { recursive: true });
      },
    };
  },
});

Deno.test({
  name: "keeper: reuse across invocations, security checks, host keys, faults",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const fleet = await startSshdFleet({ count: 2 });
    const dir = await privateDir();
    try {
      await t.step("two invocations share one SSH login; connections are listed", async () => {
        const before = acceptedLogins(fleet, 0);
        for (let i = 0; i < 3; i++) {
          const runner = await keeperRunner(dir, planOf(fleet, 0));
          assert.equal((await runner.run("echo", [`n${i}`])).stdout, `n${i}\n`);
        }
        assert.equal(acceptedLogins(fleet, 0) - before, 1, "one handshake for three commands");
        const held = await heldConnections(dir);
        assert.equal(held?.length, 1);
        assert.deepEqual([held![0].idle, held![0].busy, held![0].reused], [1, 0, 2]);
        const socket = await Deno.lstat(keeperSocket(dir));
        assert.equal(socket.mode! & 0o777, 0o600);
        assert.equal((await Deno.lstat(dir)).mode! & 0o777, 0o700);
      });

      await t.step("a jump chain is held too", async () => {
        const runner = await keeperRunner(dir, planOf(fleet, 1, { hops: [0] }));
        assert.equal((await runner.run("hostname", [])).code, 0);
        const chains = (await heldConnections(dir))!.map((h) => h.chain);
        assert.ok(chains.some((c) => c.includes(" > ")), chains.join("; "));
      });

      await t.step("a changed known_hosts is a new plan: never the old connection", async () => {
        const base = planOf(fleet, 0);
        const knownHosts = `${dir}.kh`;
        await Deno.copyFile(fleet.knownHosts, knownHosts);
        const plan: ConnectionPlan = {
          hops: [],
          target: { ...base.target, knownHostsFiles: [knownHosts] },
        };
        const before = acceptedLogins(fleet, 0);
        await (await keeperRunner(dir, plan)).run("true", []);
        await (await keeperRunner(dir, plan)).run("true", []);
        assert.equal(acceptedLogins(fleet, 0) - before, 1);
        // The host's key is removed from known_hosts: the keeper must check again, and
        // refuse, exactly as a direct connection does.
        await Deno.writeTextFile(knownHosts, "");
        const error = await expectProvctlError(
          "HostKeyUnknown",
          (await keeperRunner(dir, plan)).run("true", []),
        );
        assert.equal(error.key, "known_hosts.unknown");
        assert.equal(acceptedLogins(fleet, 0) - before, 1, "no login on an unknown key");
        await Deno.remove(knownHosts);
      });

      await t.step("host key notices of the keeper reach the invocation", async () => {
        const notices: string[] = [];
        const plan = planOf(fleet, 1, { overrides: { hostKeyPolicy: "off", knownHostsFiles: [] } });
        await (await keeperRunner(dir, plan, notices)).run("true", []);
        assert.deepEqual(notices, ["ssh.host_key_unverified"]);
      });

      await t.step("a dropped connection is re-established once, transparently", async () => {
        const runner = await keeperRunner(dir, planOf(fleet, 0));
        assert.equal((await runner.run("echo", ["a"])).stdout, "a\n");
        await fleet.kill(0);
        await fleet.start(0);
        assert.equal((await runner.run("echo", ["b"])).stdout, "b\n");
      });

      await t.step("a stopped (hung) keeper: commands run directly, nothing hangs", async () => {
        // Its own dir: a keeper that did not answer is not asked again by this process.
        const hung = await privateDir();
        const runner = await keeperRunner(hung, planOf(fleet, 0));
        assert.equal((await runner.run("echo", ["kept"])).stdout, "kept\n");
        const pid = keeperPid(hung)!;
        Deno.kill(pid, "SIGSTOP"); // its socket still accepts (the listen backlog)
        const scratch = await Deno.makeTempDir();
        try {
          // Run directly once the keeper does not answer, still held back by its reader.
          const mark = `${scratch}/wrote-all`;
          const total = 20_000_000;
          const proc = runner.stream("sh", [
            "-c",
            `head -c ${total} /dev/zero; : > "$1"`,
            "sh",
            mark,
          ]);
          await new Promise((r) => setTimeout(r, STARTED_WAIT_MS + 2500));
          const finished = await Deno.stat(mark).then(() => true, () => false);
          assert.equal(finished, false, "the program wrote 20 MB nobody read (buffered)");
          let got = 0;
          for await (const chunk of proc.stdout) got += chunk.length;
          assert.equal(got, total);
          assert.equal((await proc.done).code, 0);
          let started = Date.now();
          assert.equal((await runner.run("echo", ["direct"])).stdout, "direct\n");
          assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
          // Known unusable now: no second wait, and openKeeper gives it up.
          started = Date.now();
          assert.equal((await runner.run("echo", ["again"])).stdout, "again\n");
          assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
          assert.equal(await openKeeper(hung, { command: KEEPER }), undefined);
          started = Date.now();
          const error = await expectProvctlError("Timeout", heldConnections(hung));
          assert.equal(error.key, "ssh.keeper_no_answer");
          await expectProvctlError("Timeout", stopKeeper(hung));
          assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
        } finally {
          Deno.kill(pid, "SIGKILL");
          Deno.kill(pid, "SIGCONT");
          await removeKeeperBase(hung);
          await Deno.remove(scratch, { recursive: true });
        }
      });

      await t.step(
        "a keeper stopped mid-command: its deadline, or a kill, ends the wait",
        async () => {
          const stuck = await privateDir();
          try {
            // --timeout 1000: the keeper would stop the command at 1 s; it cannot report it.
            const runner = await keeperRunner(stuck, planOf(fleet, 0));
            const proc = runner.stream("sh", ["-c", "echo started; exec sleep 30"], {
              timeoutMs: 1000,
            });
            const reader = proc.stdout.getReader();
            assert.equal(new TextDecoder().decode((await reader.read()).value), "started\n");
            const pid = keeperPid(stuck)!;
            const started = Date.now();
            Deno.kill(pid, "SIGSTOP");
            const error = await expectProvctlError("ConnectionFailed", proc.done);
            assert.equal(error.key, "ssh.keeper_unresponsive");
            assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`);
            await reader.cancel().catch(() => {});
            Deno.kill(pid, "SIGCONT");

            // More output before it hangs: every later frame must leave the deadline be.
            const chatty = await keeperRunner(stuck, planOf(fleet, 0));
            const talk = chatty.stream(
              "sh",
              ["-c", "echo one; sleep 0.3; echo two; sleep 0.3; echo three; exec sleep 30"],
              { timeoutMs: 2000 },
            );
            const talkReader = talk.stdout.getReader();
            let heard = "";
            while (!heard.includes("three\n")) {
              heard += new TextDecoder().decode((await talkReader.read()).value);
            }
            const talkPid = keeperPid(stuck)!;
            const hungAt = Date.now();
            Deno.kill(talkPid, "SIGSTOP");
            let stillWaiting: ReturnType<typeof setTimeout> | undefined;
            const outcome = await Promise.race([
              talk.done.then(() => "exited", (e) => e),
              new Promise((r) => stillWaiting = setTimeout(() => r("still waiting"), 12_000)),
            ]).finally(() => clearTimeout(stillWaiting));
            Deno.kill(talkPid, "SIGCONT");
            assert.equal(
              isProvctlError(outcome) ? outcome.key : outcome,
              "ssh.keeper_unresponsive",
            );
            assert.ok(Date.now() - hungAt < 8000, `took ${Date.now() - hungAt} ms`);
            await talkReader.cancel().catch(() => {});

            // No timeout, killed (SIGINT in exec): given up shortly after the kill.
            const again = await keeperRunner(stuck, planOf(fleet, 0));
            const abort = new AbortController();
            const long = again.stream("sh", ["-c", "echo started; exec sleep 30"], {
              signal: abort.signal,
            });
            const longReader = long.stdout.getReader();
            assert.equal(new TextDecoder().decode((await longReader.read()).value), "started\n");
            Deno.kill(keeperPid(stuck)!, "SIGSTOP");
            const killedAt = Date.now();
            abort.abort();
            await expectProvctlError("ConnectionFailed", long.done);
            assert.ok(Date.now() - killedAt < 4000, `took ${Date.now() - killedAt} ms`);
            await longReader.cancel().catch(() => {});
          } finally {
            for (const pid of keeperPids(stuck)) {
              Deno.kill(pid, "SIGKILL");
              Deno.kill(pid, "SIGCONT");
            }
            await removeKeeperBase(stuck);
          }
        },
      );

      await t.step("an acknowledged request runs only on the client's go", async () => {
        // A client that gave up waiting for "started" (and runs the command itself)
        // closes without "go": the keeper must not run it as well.
        const socket = await openKeeper(dir, { command: KEEPER });
        assert.ok(socket);
        const marker = `${dir}.ran`;
        const plan = planOf(fleet, 0);
        const conn = await Deno.connect({ transport: "unix", path: socket });
        await frameWriter(conn)({
          op: "run",
          plan,
          hash: await planHash(plan),
          settings: SETTINGS,
          persistMs: SETTINGS.persistMs,
          env: {},
          command: { kind: "shell", script: `touch '${marker}'` },
          options: {},
        });
        const first = await readFrames<{ t: string }>(conn).next();
        assert.equal(first.value?.t, "started");
        // As if the ack sat unread while the client's wait ran out.
        await new Promise((r) => setTimeout(r, 500));
        conn.close();
        await new Promise((r) => setTimeout(r, 1500));
        await assert.rejects(Deno.lstat(marker), Deno.errors.NotFound);
        // With "go" it runs (the same keeper, through the runner).
        const runner = await keeperRunner(dir, plan);
        assert.equal((await runner.runShell(`touch '${marker}' && echo ran`)).stdout, "ran\n");
        await Deno.remove(marker);
      });

      await t.step("a keeper that closes before acknowledging: nothing ran, direct", async () => {
        // As a retiring keeper does with a client that connected just before it closed.
        const base = (await privateDir()).replace(/\/k$/, "");
        const socket = `${base}/retiring.sock`;
        const listener = Deno.listen({ transport: "unix", path: socket });
        const closing = (async () => {
          for await (const conn of listener) conn.close();
        })();
        try {
          const runner = await runnerAt(socket, planOf(fleet, 0));
          const started = Date.now();
          assert.equal((await runner.run("echo", ["direct"])).stdout, "direct\n");
          assert.ok(Date.now() - started < 1500, "no wait: EOF says nothing ran");
        } finally {
          listener.close();
          await closing.catch(() => {});
          await Deno.remove(base, { recursive: true });
        }
      });

      await t.step("each request's ssh-agent serves its new connections", async () => {
        // A first request without an agent (a cron job) must not leave the keeper's
        // connections agentless for later requests that have one.
        const agentDir = await privateDir();
        const base = agentDir.replace(/\/k$/, "");
        const agent = `${base}/agent.sock`;
        const out = await new Deno.Command("ssh-agent", { args: ["-s", "-a", agent] }).output();
        const agentPid = Number(
          new TextDecoder().decode(out.stdout).match(/SSH_AGENT_PID=(\d+)/)![1],
        );
        try {
          const added = await new Deno.Command("ssh-add", {
            args: ["-q", fleet.clientKey],
            env: { SSH_AUTH_SOCK: agent },
          }).output();
          assert.ok(added.success, new TextDecoder().decode(added.stderr));
          const plan = planOf(fleet, 0, { overrides: { identityFiles: [`${base}/no-such-key`] } });
          const socket = await openKeeper(agentDir, { command: KEEPER });
          assert.ok(socket);
          const cron = await runnerAt(socket, plan);
          await expectProvctlError("AuthFailed", cron.run("true", []));
          const login = await runnerAt(socket, plan, [], undefined, { SSH_AUTH_SOCK: agent });
          assert.equal((await login.run("echo", ["agent"])).stdout, "agent\n");
        } finally {
          Deno.kill(agentPid, "SIGTERM");
          await removeKeeperBase(agentDir, [agentPid]);
        }
      });

      await t.step("the keeper killed mid-request: a clear error, nothing hangs", async () => {
        const runner = await keeperRunner(dir, planOf(fleet, 0));
        const proc = runner.stream("sh", ["-c", "echo started; exec sleep 30"]);
        const reader = proc.stdout.getReader();
        assert.equal(new TextDecoder().decode((await reader.read()).value), "started\n");
        const pid = keeperPid(dir);
        assert.ok(pid, "the keeper runs");
        const started = Date.now();
        Deno.kill(pid!, "SIGKILL");
        const error = await expectProvctlError("ConnectionFailed", proc.done);
        assert.equal(error.key, "ssh.keeper_lost");
        assert.ok(Date.now() - started < 3000);
        await reader.cancel().catch(() => {});
      });

      await t.step("a stale socket (keeper died) is detected and replaced", async () => {
        await waitUntil("keeper gone", () => keeperPid(dir) === undefined);
        assert.ok((await Deno.lstat(keeperSocket(dir))).isSocket, "the stale socket is left");
        const runner = await keeperRunner(dir, planOf(fleet, 0));
        assert.equal((await runner.run("echo", ["again"])).stdout, "again\n");
        assert.ok(keeperPid(dir), "a new keeper serves");
      });

      await t.step("a keeper that cannot be reached: the command runs directly", async () => {
        const runner = await keeperRunner(dir, planOf(fleet, 0));
        await stopKeeper(dir);
        await waitUntil("keeper gone", () => keeperPid(dir) === undefined);
        assert.equal((await runner.run("echo", ["direct"])).stdout, "direct\n");
      });

      await t.step("an unsafe socket dir or socket is refused", async () => {
        const base = (await privateDir()).replace(/\/k$/, "");
        const open = `${base}/open`;
        await Deno.mkdir(open, { mode: 0o755 });
        await Deno.chmod(open, 0o755);
        const e1 = await expectProvctlError(
          "PermissionDenied",
          openKeeper(open, { command: KEEPER }),
        );
        assert.equal(e1.key, "ssh.keeper_unsafe");
        assert.match(String(e1.params.reason), /mode 0755/);

        const foreign = `${base}/foreign`;
        await Deno.mkdir(foreign, { mode: 0o700 });
        await Deno.chown(foreign, 65534, 65534);
        const e2 = await expectProvctlError(
          "PermissionDenied",
          openKeeper(foreign, { command: KEEPER }),
        );
        assert.match(String(e2.params.reason), /owned by uid 65534/);

        const link = `${base}/link`;
        await Deno.mkdir(`${base}/target`, { mode: 0o700 });
        await Deno.symlink(`${base}/target`, link);
        const e3 = await expectProvctlError(
          "PermissionDenied",
          openKeeper(link, { command: KEEPER }),
        );
        assert.match(String(e3.params.reason), /not a directory/);

        const notSocket = `${base}/file`;
        await Deno.mkdir(notSocket, { mode: 0o700 });
        await Deno.writeTextFile(keeperSocket(notSocket), "");
        const e4 = await expectProvctlError(
          "PermissionDenied",
          openKeeper(notSocket, { command: KEEPER }),
        );
        assert.match(String(e4.params.reason), /not a socket/);
        assert.equal(keeperPid(open) ?? keeperPid(foreign) ?? keeperPid(link), undefined);
        await Deno.remove(base, { recursive: true });
      });

      await t.step("starters racing on a stale socket: one keeper serves them all", async () => {
        const race = await privateDir();
        await Deno.mkdir(race, { mode: 0o700 });
        // A stale socket, as a keeper killed before it could clean up leaves it.
        const stale = Deno.listen({ transport: "unix", path: `${keeperSocket(race)}.old` });
        await Deno.rename(`${keeperSocket(race)}.old`, keeperSocket(race));
        stale.close();
        try {
          const sockets = await Promise.all(
            [0, 1, 2, 3].map(() => openKeeper(race, { command: KEEPER })),
          );
          assert.deepEqual(sockets, Array(4).fill(keeperSocket(race)));
          await waitUntil("the other keepers gone", () => keeperPids(race).length === 1);
          const [pid] = keeperPids(race);
          const inode = (await Deno.lstat(keeperSocket(race))).ino;
          const before = acceptedLogins(fleet, 0);
          const results = await Promise.all([0, 1, 2].map(async (i) => {
            const runner = await keeperRunner(race, planOf(fleet, 0));
            return (await runner.run("echo", [`r${i}`])).stdout;
          }));
          assert.deepEqual(results, ["r0\n", "r1\n", "r2\n"]);
          assert.deepEqual(keeperPids(race), [pid], "still the one keeper");
          assert.equal((await Deno.lstat(keeperSocket(race))).ino, inode, "its socket stays");
          assert.ok(acceptedLogins(fleet, 0) - before <= 3, "through the keeper's pool");
          assert.equal((await heldConnections(race))?.length, 1);
        } finally {
          await removeKeeperBase(race);
        }
      });

      await t.step("a keeper whose socket was replaced leaves the new one alone", async () => {
        await openKeeper(dir, { command: KEEPER });
        const old = keeperPid(dir)!;
        // Another socket is put in its place (as a keeper replacing a stale one does).
        const other = Deno.listen({ transport: "unix", path: `${keeperSocket(dir)}.new` });
        await Deno.rename(`${keeperSocket(dir)}.new`, keeperSocket(dir));
        const inode = (await Deno.lstat(keeperSocket(dir))).ino;
        try {
          await waitUntil("the old keeper gone", () => !keeperPids(dir).includes(old));
          assert.equal((await Deno.lstat(keeperSocket(dir))).ino, inode, "the new socket stays");
        } finally {
          other.close();
          await Deno.remove(keeperSocket(dir)).catch(() => {});
        }
      });

      await t.step("stopKeeper returns once the keeper has let go of its dir", async () => {
        const runner = await keeperRunner(dir, planOf(fleet, 0));
        await runner.run("true", []);
        assert.equal(await stopKeeper(dir), true);
        // Nothing of the keeper's is left to write there: its socket is already gone (it
        // unlinks it under the dir's lock file, which a removal racing it would see appear).
        assert.equal(await Deno.lstat(keeperSocket(dir)).catch(() => undefined), undefined);
        await waitUntil("keeper exit", () => keeperPid(dir) === undefined, 5000);
      });

      await t.step("the keeper exits when it holds nothing", async () => {
        const runner = await keeperRunner(dir, planOf(fleet, 0));
        await runner.run("true", []);
        const pid = keeperPid(dir)!;
        await fleet.kill(0); // its connection drops
        await waitUntil("keeper exit", () => keeperPid(dir) === undefined, 15_000);
        assert.equal(keeperPid(dir), undefined, `keeper ${pid} still running`);
        await fleet.start(0);
      });
    } finally {
      await removeKeeperBase(dir).catch(() => {});
      await fleet.stop();
    }
  },
});

Deno.test("keeper: a runtime dir others can write to (not sticky) is not used", async () => {
  const base = await Deno.makeTempDir({ prefix: "provctl-runtime-" });
  try {
    const state = `${base}/state`;
    const cases: [number, string][] = [
      [0o700, `${base}/provctl`],
      [0o755, `${base}/provctl`],
      [0o1777, `${base}/provctl`], // sticky: others cannot move our entry
      [0o770, `${state}/keeper`],
      [0o777, `${state}/keeper`],
      [0o702, `${state}/keeper`],
    ];
    for (const [mode, expected] of cases) {
      await Deno.chmod(base, mode);
      assert.equal(
        keeperDir({ XDG_RUNTIME_DIR: base }, state),
        expected,
        `mode 0${mode.toString(8)}`,
      );
    }
    assert.equal(keeperDir({ XDG_RUNTIME_DIR: "relative" }, state), `${state}/keeper`);
    assert.equal(keeperDir({}, state), `${state}/keeper`);
  } finally {
    await Deno.chmod(base, 0o700);
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("keeper: socket and lock are per machine (a state dir on a shared home)", () => {
  const host = Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "_");
  assert.equal(keeperSocket("/s/keeper"), `/s/keeper/keeper-v2-${host}.sock`);
  assert.equal(keeperLock("/s/keeper"), `/s/keeper/keeper-${host}.lock`);
});

Deno.test({
  name: "keeper: a client that stops reading holds back its own command only",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const fleet = await startSshdFleet({ count: 1 });
    const dir = await privateDir();
    try {
      const stalled = await keeperRunner(dir, planOf(fleet, 0));
      const other = await keeperRunner(dir, planOf(fleet, 0));
      const total = 20_000_000;
      const proc = stalled.stream("sh", ["-c", `head -c ${total} /dev/zero`]);
      await new Promise((r) => setTimeout(r, 1500));
      // The same keeper, the same machine: the other client's command runs meanwhile.
      const started = performance.now();
      const result = await other.run("echo", ["b"]);
      assert.equal(result.stdout, "b\n");
      assert.ok(performance.now() - started < 5000, "the other client waited for the stalled one");
      let got = 0;
      for await (const chunk of proc.stdout) got += chunk.length;
      assert.equal(got, total);
      assert.equal((await proc.done).code, 0);
    } finally {
      await removeKeeperBase(dir);
      await fleet.stop();
    }
  },
});
