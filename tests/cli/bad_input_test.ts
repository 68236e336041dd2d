/**
 * The bad-input matrix: every mistake gets one clear line naming what was wrong, a
 * documented exit code, no stack trace, and nothing half-done (no process signalled
 * that provctl did not start).
 */
import assert from "node:assert/strict";
import { type CliResult, cliSandbox, processAlive, waitFor } from "../helpers/cli.ts";

function assertCleanError(result: CliResult, code: number, message: RegExp) {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /\n\s+at .*:\d+:\d+/, "no stack trace");
  assert.ok(result.stderr.startsWith("provctl: error: "), result.stderr);
}

Deno.test("invalid service names are refused before anything is written", async () => {
  const cli = await cliSandbox();
  try {
    const cases: [string, RegExp][] = [
      [
        "../etc/passwd",
        /invalid service name '\.\.\/etc\/passwd': '\/' at position 3 is not allowed/,
      ],
      ["a b", /invalid service name 'a b': space at position 2 is not allowed/],
      ["web;rm", /';' at position 4 is not allowed/],
      ["$(id)", /'\$' at position 1 is not allowed/],
      [".hidden", /must not start with '\.'/],
      ["a..b", /'\.\.' is not allowed/],
      ["x".repeat(65), /65 characters, the limit is 64/],
      ["tab\there", /control character U\+0009 at position 4/],
    ];
    for (const [name, message] of cases) {
      const result = await cli.run(["start", name, "--", "true"]);
      assertCleanError(result, 2, message);
      assert.match(result.stderr, /hint: service names use letters, digits/);
    }
    const stop = await cli.run(["stop", "ok-name", "bad/name"]);
    assertCleanError(stop, 2, /'\/' at position 4/);
    // Nothing was created for any of them.
    const entries = [];
    try {
      for await (const e of Deno.readDir(cli.stateDir)) entries.push(e.name);
    } catch { /* no state dir at all: fine */ }
    assert.deepEqual(entries.filter((e) => e !== "locks"), []);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("malformed, unknown-key and ill-typed TOML point at file:line:col", async () => {
  const cli = await cliSandbox();
  try {
    const file = `${cli.dir}/provctl.toml`;
    await Deno.writeTextFile(file, '[services.api]\nbinary = "sleep"\nargs = ["1"\n');
    assertCleanError(await cli.run(["start", "api"]), 2, new RegExp(`${file}:\\d+:\\d+`));

    await Deno.writeTextFile(file, '[services.api]\nbinary = "sleep"\nargz = ["1"]\n');
    assertCleanError(
      await cli.run(["start", "api"]),
      2,
      new RegExp(`${file}:3:1.*argz.*did you mean.*args`),
    );

    await Deno.writeTextFile(file, '[services.api]\nbinary = "sleep"\nargs = "1"\n');
    assertCleanError(await cli.run(["start", "api"]), 2, new RegExp(`${file}:3:\\d+.*args.*array`));

    await Deno.mkdir(`${cli.dir}/conf`);
    await Deno.writeTextFile(`${cli.dir}/conf/defaults.toml`, '[timeouts]\nstop_ms = "soon"\n');
    assertCleanError(
      await cli.run(["status", "--config-dir", `${cli.dir}/conf`]),
      2,
      /conf\/defaults\.toml:2:\d+.*timeouts\.stop_ms/,
    );
    await Deno.writeTextFile(
      `${cli.dir}/conf/defaults.toml`,
      '[paths]\nlog_file = "{nowhere}/x.log"\n',
    );
    assertCleanError(
      await cli.run(["status", "--config-dir", `${cli.dir}/conf`]),
      2,
      /\{nowhere\}/,
    );

    assertCleanError(await cli.run(["status", "--config-dir", `${cli.dir}/missing`]), 2, /missing/);
    assertCleanError(await cli.run(["status", "--file", `${cli.dir}/nope.toml`]), 2, /nope\.toml/);
    assertCleanError(
      await cli.run(["status"], { env: { PROVCTL_BACKEND: "docker" } }),
      2,
      /PROVCTL_BACKEND/,
    );
  } finally {
    await cli.cleanup();
  }
});

Deno.test("usage mistakes: unknown command, unknown flag, missing command to run", async () => {
  const cli = await cliSandbox();
  try {
    assertCleanError(
      await cli.run(["strat", "web"]),
      2,
      /unknown command 'strat'; did you mean start\?/,
    );
    assertCleanError(await cli.run(["status", "--colour"]), 2, /unknown flag '--colour'/);
    assertCleanError(await cli.run(["logs", "web", "-n", "many"]), 2, /invalid value 'many' for/);
    assertCleanError(await cli.run(["start", "web"]), 2, /no command to run; give it after --/);
    assertCleanError(
      await cli.run(["start", "web", "-e", "NOEQUALS", "--", "true"]),
      2,
      /invalid --env 'NOEQUALS'/,
    );
    assertCleanError(
      await cli.run(["start", "web", "--stop-signal", "SIGFOO", "--", "true"]),
      2,
      /invalid signal 'SIGFOO'/,
    );
  } finally {
    await cli.cleanup();
  }
});

Deno.test("missing and non-executable binaries, missing working directory", async () => {
  const cli = await cliSandbox();
  try {
    assertCleanError(
      await cli.run(["start", "a", "--", "/nonexistent/bin/tool"]),
      1,
      /cannot run '\/nonexistent\/bin\/tool': no such file/,
    );
    assertCleanError(
      await cli.run(["start", "b", "--", "no-such-command-xyz"]),
      1,
      /no such file or command on PATH/,
    );
    const script = `${cli.dir}/not-exec.sh`;
    await Deno.writeTextFile(script, "#!/bin/sh\nsleep 100\n");
    await Deno.chmod(script, 0o644);
    assertCleanError(
      await cli.run(["start", "c", "--", script]),
      1,
      /permission denied \(is it executable\?\)/,
    );
    assertCleanError(
      await cli.run(["start", "d", "-w", `${cli.dir}/nowhere`, "--", "true"]),
      2,
      /working directory .*nowhere' does not exist/,
    );
    // A path with blanks is reported whole (script output was once cut at the first blank).
    assertCleanError(
      await cli.run(["start", "e", "-w", `${cli.dir}/no such dir`, "--", "true"]),
      2,
      new RegExp(`working directory '${cli.dir}/no such dir' does not exist`),
    );
  } finally {
    await cli.cleanup();
  }
});

Deno.test("an unwritable state directory is reported with the path and what to set", async () => {
  const cli = await cliSandbox();
  try {
    const blocker = `${cli.dir}/a-file`;
    await Deno.writeTextFile(blocker, "");
    // A directory under a regular file cannot be created, even by root.
    const result = await cli.run(["start", "web", "--", "sleep", "100"], {
      env: { PROVCTL_STATE_DIR: `${blocker}/state` },
    });
    assertCleanError(result, 1, /cannot write to '.*a-file\/state.*PROVCTL_STATE_DIR/);
    // Commands that read the state dir themselves say the same kind of thing, without a trace.
    const breakers = await cli.run(["hosts", "breakers"], {
      env: { PROVCTL_STATE_DIR: `${blocker}/state` },
    });
    assertCleanError(breakers, 1, /Not a directory.*a-file\/state.*provctl config show/);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("a service that dies at start is a failed start with its last log lines", async () => {
  const cli = await cliSandbox();
  try {
    const result = await cli.run([
      "start",
      "boom",
      "--",
      "sh",
      "-c",
      "echo 'config error: port taken' >&2; exit 3",
    ]);
    assertCleanError(result, 1, /boom exited within \d+ ms of starting \(exit code 3\)/);
    assert.match(result.stderr, /config error: port taken/);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("double start and stop of a never-started service", async () => {
  const cli = await cliSandbox();
  try {
    assert.equal((await cli.run(["start", "once", "--", "sleep", "300"])).code, 0);
    assertCleanError(
      await cli.run(["start", "once", "--", "sleep", "300"]),
      1,
      /once is already running \(PID \d+\)/,
    );
    assertCleanError(await cli.run(["stop", "never"]), 3, /never is not known here/);
    const status = await cli.run(["status", "never"]);
    assert.equal(status.code, 3);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("a corrupted PID file is reported and removed; nothing is signalled", async () => {
  const cli = await cliSandbox();
  try {
    assert.equal((await cli.run(["start", "svc", "--", "sleep", "300"])).code, 0);
    const pidFile = `${cli.stateDir}/run/svc.pid`;
    const pid = Number(/pid=(\d+)/.exec(await Deno.readTextFile(pidFile))![1]);
    await Deno.writeTextFile(pidFile, "garbage\x00\x01 not a pid file\n");
    const status = await cli.run(["status", "svc"]);
    assert.equal(status.code, 3);
    assert.match(status.stdout, /not running \(corrupted PID file removed\)/);
    await assert.rejects(Deno.stat(pidFile));
    const stop = await cli.run(["stop", "svc"]);
    assert.equal(stop.code, 0);
    assert.equal(stop.stdout, "svc was not running\n");
    // The real process was not touched (provctl could no longer prove it is the service).
    assert.ok(processAlive(pid));
    Deno.kill(pid, "SIGKILL");
  } finally {
    await cli.cleanup();
  }
});

Deno.test("a PID file pointing at an unrelated live process never gets it killed", async () => {
  const cli = await cliSandbox();
  const unrelated = new Deno.Command("sleep", { args: ["300"] }).spawn();
  try {
    assert.equal((await cli.run(["start", "svc", "--", "sleep", "300"])).code, 0);
    const pidFile = `${cli.stateDir}/run/svc.pid`;
    const real = Number(/pid=(\d+)/.exec(await Deno.readTextFile(pidFile))![1]);
    await cli.run(["stop", "svc"]);
    await waitFor("service gone", () => !processAlive(real));
    // Simulate PID reuse: the recorded PID now belongs to someone else's process.
    const text = (await Deno.readTextFile(`${cli.stateDir}/services/svc.json`)) && "";
    void text;
    await Deno.writeTextFile(
      pidFile,
      `pid=${unrelated.pid}\npgid=${unrelated.pid}\nstart=12345\nstarted=1700000000\n`,
    );
    const status = await cli.run(["status", "svc"]);
    assert.equal(status.code, 3);
    assert.match(status.stdout, /stale PID file removed: its PID now belongs to another process/);
    await Deno.writeTextFile(
      pidFile,
      `pid=${unrelated.pid}\npgid=${unrelated.pid}\nstart=12345\nstarted=1700000000\n`,
    );
    const stop = await cli.run(["stop", "svc"]);
    assert.equal(stop.code, 0);
    assert.equal(stop.stdout, "svc was not running\n");
    assert.ok(processAlive(unrelated.pid), "the unrelated process must survive");
  } finally {
    unrelated.kill("SIGKILL");
    await unrelated.status;
    await cli.cleanup();
  }
});

Deno.test("a zombie is not running", async () => {
  const cli = await cliSandbox();
  // `sleep 0.2` becomes a zombie child of a parent that never reaps it.
  const pidOut = `${cli.dir}/zombie.pid`;
  const parent = new Deno.Command("sh", {
    args: ["-c", `sleep 0.2 & echo $! > ${pidOut}; exec sleep 300`],
  }).spawn();
  try {
    await waitFor(
      "zombie pid",
      async () => (await Deno.readTextFile(pidOut).catch(() => "")).trim() !== "",
    );
    const zombie = Number((await Deno.readTextFile(pidOut)).trim());
    await waitFor(
      "zombie state",
      () => Deno.readTextFileSync(`/proc/${zombie}/stat`).includes(") Z "),
    );
    const stat = Deno.readTextFileSync(`/proc/${zombie}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    await Deno.mkdir(`${cli.stateDir}/run`, { recursive: true });
    await Deno.writeTextFile(
      `${cli.stateDir}/run/ghost.pid`,
      `pid=${zombie}\npgid=${fields[2]}\nstart=${fields[19]}\nstarted=1700000000\n`,
    );
    const status = await cli.run(["status", "ghost"]);
    assert.equal(status.code, 3);
    assert.match(status.stdout, /ghost\s+pidfile\s+not running/);
  } finally {
    parent.kill("SIGKILL");
    await parent.status;
    await cli.cleanup();
  }
});

Deno.test("control characters in names and config values never reach the terminal raw", async () => {
  const cli = await cliSandbox();
  try {
    // A newline would split the one-line error; an escape sequence would recolour,
    // move the cursor or retitle the terminal.
    const hostile = "web\nprovctl: error: fake\x1b]0;pwned\x07\x1b[31m";
    for (const args of [["status", hostile], ["stop", hostile], ["logs", hostile]]) {
      const result = await cli.run(args);
      assertCleanError(result, 2, /invalid service name 'web\\nprovctl: error: fake\\e\]0;pwned/);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(result.stderr, /[\x00-\x08\x0b-\x1f\x7f]/, "no raw control characters");
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 2, `one error line and one hint line:\n${result.stderr}`);
    }
    // A file path with an escape sequence, in a TOML error.
    const dir = `${cli.dir}/odd\x1b[2Jdir`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/provctl.toml`, "[services.api\n");
    const bad = await cli.run(["start", "api", "--file", `${dir}/provctl.toml`]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /odd\\e\[2Jdir/);
    assert.ok(!bad.stderr.includes("\x1b"), bad.stderr);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("a command refuses the flags it would ignore; short flags mean one thing", async () => {
  const cli = await cliSandbox();
  try {
    const refused: [string[], RegExp][] = [
      [["audit", "--host", "web1"], /unknown flag '--host'/],
      [["metrics", "--backend", "pidfile"], /unknown flag '--backend'/],
      [["status", "x", "--force"], /unknown flag '--force'/],
      [["stop", "x", "--force"], /unknown flag '--force'/],
      [["machines", "list", "--forks", "3"], /unknown flag '--forks'/],
      [["config", "show", "--system"], /unknown flag '--system'/],
      [["hostkey", "show", "h", "--host", "x"], /unknown flag '--host'/],
      [["restart", "x", "-m", "a", "--batch", "0"], /invalid value '0' for --batch/],
      [["status", "-f", "x.toml"], /unknown flag '-f'/],
      [["-v"], /unknown command '-v'/],
    ];
    for (const [args, message] of refused) {
      assertCleanError(await cli.run(args), 2, message);
    }
    const version = await cli.run(["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    // --jump with machines of the inventory would be ignored: refused.
    await Deno.writeTextFile(`${cli.dir}/machines.toml`, '[machines.a]\nhost = "127.0.0.1"\n');
    assertCleanError(
      await cli.run([
        "status",
        "x",
        "-m",
        "a",
        "--jump",
        "b",
        "--inventory",
        `${cli.dir}/machines.toml`,
      ]),
      2,
      /--jump applies to --host/,
    );
  } finally {
    await cli.cleanup();
  }
});
