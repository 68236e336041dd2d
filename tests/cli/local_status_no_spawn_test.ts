/**
 * `provctl status` of PID-file services on this machine starts no process at all (no sh
 * for the status script, none for the systemd probe or the trust checks): every program
 * started under it is seen by strace -f, whatever its path. Scripts call status in loops,
 * and each process costs milliseconds. Its answers stay what they were.
 */
import assert from "node:assert/strict";
import { type CliSandbox, cliSandbox, waitFor } from "../helpers/cli.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

const strace = ["/usr/bin/strace", "/bin/strace"].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/**
 * Runs provctl under strace; the programs it (and anything it started) executed, and the
 * files it opened.
 */
async function traced(cli: CliSandbox, args: string[]) {
  const log = `${cli.dir}/strace.log`;
  const out = await new Deno.Command(strace!, {
    args: [
      "-f",
      "-qq",
      "-e",
      "trace=execve,execveat,openat",
      "-e",
      "signal=none",
      "-o",
      log,
      Deno.execPath(),
      "run",
      "--allow-all",
      "--quiet",
      MAIN,
      ...args,
    ],
    env: cli.env,
    clearEnv: true,
    cwd: cli.dir,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  const lines = (await Deno.readTextFile(log)).split("\n");
  const programs = lines
    .map((line) => /execve(?:at)?\((?:\d+, )?"([^"]*)"/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
  const opened = lines
    .map((line) => /openat\((?:AT_FDCWD|\d+), "([^"]*)"/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    // The first is provctl itself (deno).
    spawned: programs.slice(1),
    opened,
  };
}

Deno.test({
  name: "status of local PID-file services spawns no process, loads neither the parser nor the " +
    "scripts, and answers as before" +
    (strace === undefined ? " (ignored: strace is not installed; apt-get install strace)" : ""),
  ignore: strace === undefined,
  fn: async () => {
    const cli = await cliSandbox();
    try {
      const start = await cli.run(["start", "web", "--", "sleep", "300"]);
      assert.equal(start.code, 0, start.stderr);
      const pid = Number(/PID (\d+)/.exec(start.stdout)?.[1]);
      assert.ok(pid > 0, start.stdout);
      const gone = await cli.run(["start", "gone", "--", "sh", "-c", "sleep 1"]);
      assert.equal(gone.code, 0, gone.stderr);
      await waitFor("gone to end", async () => (await cli.run(["status", "gone"])).code === 3);

      // The detector sees what provctl starts: `logs` reads the log through a shell.
      const control = await traced(cli, ["logs", "web", "-n", "1"]);
      assert.equal(control.code, 0, control.stderr);
      assert.ok(control.spawned.length > 0, "strace saw no program started by `logs`");

      const text = await traced(cli, ["status", "web"]);
      assert.deepEqual(text.spawned, []);
      // Start-up cost: neither the command-line parser and its route table (a flagless
      // status skips them, cli/fast_path.ts) nor the backend's shell scripts (it runs none)
      // are loaded.
      const modules = text.opened.filter((p) => p.includes("/src/") || p.includes("@stricli"));
      assert.ok(modules.some((p) => p.endsWith("/src/cli/commands/status.ts")), "no module seen");
      for (const path of modules) {
        assert.doesNotMatch(path, /@stricli|\/src\/cli\/app\.ts$|\/_pidfile\/\w+\.sh$/);
      }
      assert.equal(text.code, 0, text.stderr);
      assert.match(
        text.stdout,
        new RegExp(`^NAME +BACKEND +STATE +PID +UPTIME\nweb +pidfile +running +${pid} +\\d+s\n$`),
      );
      assert.equal(text.stderr, "");

      const json = await traced(cli, ["status", "web", "-o", "json"]);
      assert.deepEqual(json.spawned, []);
      const row = JSON.parse(json.stdout);
      assert.deepEqual(Object.keys(row), [
        "name",
        "machine",
        "backend",
        "state",
        "pid",
        "since",
        "exit_code",
        "signal",
        "reason",
        "restarts",
        "last_exit",
        "last_restart_at",
        "next_restart_at",
        "supervisor",
      ]);
      assert.deepEqual({ ...row, since: undefined }, {
        name: "web",
        machine: "local",
        backend: "pidfile",
        state: "running",
        pid,
        since: undefined,
        exit_code: null,
        signal: null,
        reason: null,
        restarts: 0,
        last_exit: null,
        last_restart_at: null,
        next_restart_at: null,
        supervisor: "running",
      });

      // Not running: exit 3, still nothing started.
      const exited = await traced(cli, ["status", "gone", "-o", "json"]);
      assert.deepEqual(exited.spawned, []);
      assert.equal(exited.code, 3, exited.stderr);
      assert.equal(JSON.parse(exited.stdout).state, "exited");
      assert.equal(JSON.parse(exited.stdout).exit_code, 0);

      // Every service (the list of stored definitions is read in-process too).
      const all = await traced(cli, ["status"]);
      assert.deepEqual(all.spawned, []);
      assert.match(all.stdout, /^NAME +BACKEND +STATE +PID +UPTIME\n/);
      assert.match(all.stdout, /\ngone +pidfile +exited/);
      assert.match(all.stdout, new RegExp(`\nweb +pidfile +running +${pid} `));
      // Untraced, the same answer.
      const plain = await cli.run(["status"]);
      assert.equal(plain.stdout.replace(/\d+s\n/g, ""), all.stdout.replace(/\d+s\n/g, ""));
    } finally {
      await cli.cleanup();
    }
  },
});
