/** End to end through the real CLI: a real HTTP server started, used, logged, stopped. */
import assert from "node:assert/strict";
import { cliSandbox, processAlive, waitFor } from "../helpers/cli.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("start a real HTTP server, status, logs, stop", async () => {
  const cli = await cliSandbox();
  try {
    const port = freePort();
    const start = await cli.run([
      "start",
      "web",
      "--",
      "python3",
      "-m",
      "http.server",
      String(port),
      "--bind",
      "127.0.0.1",
    ]);
    assert.equal(start.code, 0, start.stderr);
    const pid = Number(/PID (\d+)/.exec(start.stdout)?.[1]);
    assert.match(start.stdout, /^Started web \(PID \d+, backend pidfile\)\n$/);
    assert.ok(processAlive(pid));

    let body = "";
    await waitFor("http server", async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        body = await res.text();
        return res.ok;
      } catch {
        return false;
      }
    });
    assert.match(body, /Directory listing/);

    const status = await cli.run(["status"]);
    assert.equal(status.code, 0);
    assert.match(
      status.stdout,
      /^NAME\s+BACKEND\s+STATE\s+PID\s+UPTIME\nweb\s+pidfile\s+running\s+(\d+)\s+\d+s\n$/,
    );
    assert.equal(status.stderr, "");

    const json = await cli.run(["status", "web", "-o", "json"]);
    const row = JSON.parse(json.stdout);
    assert.deepEqual(
      {
        name: row.name,
        backend: row.backend,
        state: row.state,
        pid: row.pid,
        machine: row.machine,
      },
      { name: "web", backend: "pidfile", state: "running", pid, machine: "local" },
    );
    assert.ok(!Number.isNaN(Date.parse(row.since)));

    await waitFor(
      "request in log",
      async () => (await cli.run(["logs", "web"])).stdout.includes('"GET / HTTP/1.1" 200'),
    );
    const last = await cli.run(["logs", "web", "-n", "1"]);
    assert.equal(last.stdout.trim().split("\n").length, 1);

    const stop = await cli.run(["stop", "web"]);
    assert.equal(stop.code, 0);
    assert.equal(stop.stdout, "Stopped web\n");
    await waitFor("process gone", () => !processAlive(pid));

    const after = await cli.run(["status", "web"]);
    assert.equal(after.code, 3);
    assert.match(after.stdout, /web\s+pidfile\s+not running/);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("logs -f follows new lines until interrupted", async () => {
  const cli = await cliSandbox();
  try {
    const start = await cli.run([
      "start",
      "ticker",
      "--",
      "sh",
      "-c",
      'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.1; done',
    ]);
    assert.equal(start.code, 0, start.stderr);
    const follower = cli.spawn(["logs", "ticker", "-f", "-n", "1"]);
    const reader = follower.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while ((seen.match(/tick/g) ?? []).length < 5) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    assert.ok((seen.match(/tick \d+/g) ?? []).length >= 5, seen);
    follower.kill("SIGINT");
    await reader.cancel();
    const status = await follower.status;
    assert.ok(status.code === 0 || status.signal === "SIGINT", JSON.stringify(status));
    await follower.stderr.cancel();
  } finally {
    await cli.cleanup();
  }
});

Deno.test("a services file: start by name, flags override, restart keeps the definition", async () => {
  const cli = await cliSandbox();
  try {
    await Deno.writeTextFile(
      `${cli.dir}/provctl.toml`,
      `[services.api]\nbinary = "sh"\nargs = ["-c", "echo \\"api $GREETING\\"; exec sleep 300"]\nenv = { GREETING = "from-file" }\n`,
    );
    const start = await cli.run(["start", "api"]);
    assert.equal(start.code, 0, start.stderr);
    await waitFor(
      "log",
      async () => (await cli.run(["logs", "api"])).stdout.includes("api from-file"),
    );
    const pid1 = JSON.parse((await cli.run(["status", "api", "-o", "json"])).stdout).pid;

    const restart = await cli.run(["restart", "api"]);
    assert.equal(restart.code, 0, restart.stderr);
    const pid2 = JSON.parse((await cli.run(["status", "api", "-o", "json"])).stdout).pid;
    assert.notEqual(pid1, pid2);
    await cli.run(["stop", "api"]);

    const overridden = await cli.run(["start", "api", "-e", "GREETING=from-flag"]);
    assert.equal(overridden.code, 0, overridden.stderr);
    await waitFor(
      "log",
      async () => (await cli.run(["logs", "api"])).stdout.includes("api from-flag"),
    );
    await cli.run(["stop", "api"]);

    // -f names another file; the status of every service it declares is listed.
    await Deno.writeTextFile(
      `${cli.dir}/other.toml`,
      `[services.other]\nbinary = "sleep"\nargs = ["300"]\n`,
    );
    const listed = await cli.run(["status", "--file", "other.toml"]);
    assert.match(listed.stdout, /other\s+pidfile\s+not running/);
    assert.match(listed.stdout, /api\s+pidfile\s+not running/);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("concurrent starts of one service start exactly one process", async () => {
  const cli = await cliSandbox();
  try {
    const marker = `provctl-race-${crypto.randomUUID()}`;
    const runs = Array.from(
      { length: 20 },
      () => cli.spawn(["start", "race", "--", "sh", "-c", `exec sleep 300 # ${marker}`]).output(),
    );
    const results = await Promise.all(runs);
    const dec = new TextDecoder();
    const ok = results.filter((r) => r.code === 0);
    const refused = results.filter((r) =>
      r.code === 1 && /already running/.test(dec.decode(r.stderr))
    );
    assert.equal(ok.length, 1, results.map((r) => dec.decode(r.stderr)).join("\n"));
    assert.equal(refused.length, 19);
    const ps = await new Deno.Command("pgrep", { args: ["-f", marker], stdout: "piped" }).output();
    assert.equal(dec.decode(ps.stdout).trim().split("\n").filter(Boolean).length, 1);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("a service killed from outside shows as killed by its signal; a crash shows its exit code", async () => {
  const cli = await cliSandbox();
  try {
    await cli.run(["start", "victim", "--", "sleep", "300"]);
    const pid = JSON.parse((await cli.run(["status", "victim", "-o", "json"])).stdout).pid;
    Deno.kill(pid, "SIGKILL");
    await waitFor(
      "terminated",
      async () => (await cli.run(["status", "victim"])).stdout.includes("killed by SIGKILL"),
    );

    await cli.run(["start", "crash", "--", "sh", "-c", "sleep 1; exit 4"]);
    await waitFor(
      "exited",
      async () => (await cli.run(["status", "crash"])).stdout.includes("exited (code 4)"),
    );
    const json = JSON.parse((await cli.run(["status", "crash", "-o", "json"])).stdout);
    assert.equal(json.state, "exited");
    assert.equal(json.exit_code, 4);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("config show and config path report layers and origins", async () => {
  const cli = await cliSandbox();
  try {
    await Deno.mkdir(`${cli.dir}/conf`);
    await Deno.writeTextFile(`${cli.dir}/conf/defaults.toml`, "[logs]\nlines = 7\n");
    const show = await cli.run(["config", "show", "--config-dir", `${cli.dir}/conf`]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /logs\.lines\s+7\s+.*conf\/defaults\.toml:2/);
    assert.match(show.stdout, /paths\.state_dir\s+".*"\s+env PROVCTL_STATE_DIR/);
    assert.match(show.stdout, /timeouts\.stop_ms\s+10000\s+embedded/);
    const path = await cli.run(["config", "path", "--config-dir", `${cli.dir}/conf`]);
    assert.match(path.stdout, /system\s+\/etc\/provctl\/defaults\.toml/);
    assert.match(path.stdout, new RegExp(`config-dir\\s+${cli.dir}/conf/defaults\\.toml\\s+yes`));
  } finally {
    await cli.cleanup();
  }
});

Deno.test("version, completion and help", async () => {
  const cli = await cliSandbox();
  try {
    const version = await cli.run(["version", "-o", "json"]);
    assert.equal(JSON.parse(version.stdout).version, "0.1.0");
    assert.equal((await cli.run(["--version"])).stdout.trim(), "0.1.0");
    for (const shell of ["bash", "zsh", "fish"]) {
      const out = await cli.run(["completion", shell]);
      assert.equal(out.code, 0);
      assert.match(out.stdout, /provctl __complete/);
    }
    const complete = await cli.run(["__complete", "--", "st"]);
    assert.deepEqual(complete.stdout.trim().split("\n").sort(), [
      "start",
      "state",
      "status",
      "stop",
    ]);
    const help = await cli.run(["start", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /provctl start .*NAME/);
  } finally {
    await cli.cleanup();
  }
});

Deno.test("a start that fails before the service runs leaves nothing behind", async () => {
  const cli = await cliSandbox();
  try {
    const script = `${cli.dir}/not-executable.sh`;
    await Deno.writeTextFile(script, "#!/bin/sh\nexec sleep 300\n", { mode: 0o644 });
    const cases = [
      { name: "missing", cmd: [`${cli.dir}/no-such-program`], error: /no such file/ },
      { name: "bare-missing", cmd: ["provctl-no-such-program"], error: /no such file/ },
      { name: "noexec", cmd: [script], error: /is it executable/ },
    ];
    for (const c of cases) {
      const start = await cli.run(["start", c.name, "--", ...c.cmd]);
      assert.equal(start.code, 1, start.stderr);
      assert.match(start.stderr, /^provctl: error: /);
      assert.match(start.stderr, c.error);
      // Never started: stop says so (exit 3), status does not list it.
      const stop = await cli.run(["stop", c.name]);
      assert.equal(stop.code, 3, `${c.name}: ${stop.stdout}${stop.stderr}`);
      const status = await cli.run(["status", "-o", "json"]);
      assert.equal(status.stdout, "", `${c.name} listed: ${status.stdout}`);
    }
    // Nothing half-written: no definition, environment, log or lock file.
    const left: string[] = [];
    for await (const entry of walkFiles(cli.stateDir)) left.push(entry);
    assert.deepEqual(left, []);

    // A service that ran before keeps its definition when a later start fails.
    assert.equal((await cli.run(["start", "known", "--", "sleep", "300"])).code, 0);
    assert.equal((await cli.run(["stop", "known"])).code, 0);
    const bad = await cli.run(["start", "known", "--", `${cli.dir}/no-such-program`]);
    assert.equal(bad.code, 1);
    const restart = await cli.run(["restart", "known"]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal((await cli.run(["stop", "known"])).code, 0);
  } finally {
    await cli.cleanup();
  }
});

/** Every regular file below `dir` (relative paths); the supervisor script is not state. */
async function* walkFiles(dir: string, prefix = ""): AsyncGenerator<string> {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory) yield* walkFiles(`${dir}/${e.name}`, `${prefix}${e.name}/`);
    else if (e.name !== "provctl-supervise.sh") yield `${prefix}${e.name}`;
  }
}

Deno.test("enable/disable on the pidfile backend say it has no boot support (one line, exit 1)", async () => {
  const cli = await cliSandbox();
  try {
    for (const verb of ["enable", "disable"]) {
      const r = await cli.run([verb, "web"]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        "provctl: error: the pidfile backend cannot start services at boot; use systemd or launchd\n",
      );
    }
  } finally {
    await cli.cleanup();
  }
});

Deno.test("restart on-failure on the pidfile backend: restarts, then failed at the limit, in status text and JSON", async () => {
  const cli = await cliSandbox();
  try {
    const config = `${cli.dir}/conf`;
    await Deno.mkdir(config);
    await Deno.writeTextFile(
      `${config}/defaults.toml`,
      "[service]\nrestart_delay_ms = 100\nrestart_max_delay_ms = 400\nrestart_max = 2\n",
    );
    const run = ([verb, ...rest]: string[]) => cli.run([verb, "--config-dir", config, ...rest]);
    const start = await run([
      "start",
      "crashy",
      "--restart",
      "on-failure",
      "--",
      "sh",
      "-c",
      "echo boom; exit 1",
    ]);
    assert.equal(start.code, 0, start.stderr);
    let row: Record<string, unknown> = {};
    await waitFor("failed", async () => {
      row = JSON.parse((await run(["status", "crashy", "-o", "json"])).stdout);
      return row.state === "failed";
    });
    assert.deepEqual(
      {
        state: row.state,
        reason: row.reason,
        exit_code: row.exit_code,
        restarts: row.restarts,
        last_exit: row.last_exit,
        next_restart_at: row.next_restart_at,
        supervisor: row.supervisor,
      },
      {
        state: "failed",
        reason: "restart_limit",
        exit_code: 1,
        restarts: 2,
        last_exit: { code: 1, signal: null },
        next_restart_at: null,
        supervisor: "done",
      },
    );
    assert.ok(!Number.isNaN(Date.parse(row.last_restart_at as string)));
    const text = await run(["status", "crashy"]);
    assert.equal(text.code, 3);
    assert.match(
      text.stdout,
      /^NAME\s+BACKEND\s+STATE\s+PID\s+UPTIME\s+RESTARTS\ncrashy\s+pidfile\s+failed: gave up after 2 restarts \(restart_max\), last exit code 1\s+-\s+-\s+2\n$/,
    );
    const logs = await run(["logs", "crashy"]);
    assert.equal(logs.stdout, "boom\nboom\nboom\n");
    // The restarts reach the metrics (a gauge per service and machine).
    const prom = await run(["metrics", "-o", "prom"]);
    assert.match(prom.stdout, /^provctl_service_restarts\{[^}]*service="crashy"[^}]*\} 2$/m);
  } finally {
    await cli.cleanup();
  }
});
