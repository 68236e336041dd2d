/** Fleet commands through the real CLI on a loopback fleet of real sshd hosts. */
import assert from "node:assert/strict";
import { fleetSandbox, fleetUnavailable } from "../helpers/fleet.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`fleet CLI tests skipped: ${unavailable}`);
const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({
    name,
    ignore: Boolean(unavailable),
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });

test("machines list and check; start/status/restart --batch/stop across selected machines", async () => {
  const f = await fleetSandbox(3, (i) => ({ role: i < 2 ? "web" : "db", env: "test" }));
  try {
    const list = await f.run(["machines", "list", "-o", "json"]);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.name, r.labels.role]), [["m1", "web"], ["m2", "web"], [
      "m3",
      "db",
    ]]);

    const check = await f.run(["machines", "check", "-o", "json"]);
    assert.equal(check.code, 0, check.stderr + check.stdout);
    for (const line of check.stdout.trim().split("\n")) {
      const r = JSON.parse(line);
      assert.equal(r.ok, true, line);
      assert.equal(r.backend, "pidfile");
    }

    const start = await f.run(["start", "api", "-l", "role=web", "--", "sleep", "300"]);
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /^m1: Started api \(PID \d+, backend pidfile\)$/m);
    assert.match(start.stdout, /^m2: Started api/m);
    assert.doesNotMatch(start.stdout, /m3/);
    // Each machine keeps its own PID file (its own XDG_STATE_HOME).
    for (const i of [0, 1]) await Deno.stat(`${f.stateDirOf(i)}/run/api.pid`);

    const status = await f.run(["status", "api", "--all", "-o", "json"]);
    const states = status.stdout.trim().split("\n").map((l) => JSON.parse(l)).map((
      r,
    ) => [r.machine, r.state]);
    assert.deepEqual(states, [["m1", "running"], ["m2", "running"], ["m3", "not-running"]]);
    assert.equal(status.code, 3);

    const table = await f.run(["status", "api", "-l", "role=web"]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^HOST\s+NAME\s+BACKEND\s+STATE/);

    const restart = await f.run(["restart", "api", "-l", "role=web", "--batch", "1"]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(restart.stdout, /m1: Restarted api[\s\S]*m2: Restarted api/);

    // Every remote operation is in the audit log and the metrics.
    const local = { env: { PROVCTL_STATE_DIR: "", XDG_STATE_HOME: `${f.cli.dir}/local-state` } };
    const audit = await f.cli.run(["audit", "-o", "json", "--op", "start"], local);
    assert.equal(audit.code, 0, audit.stderr);
    const records = audit.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual([...new Set(records.map((r) => r.machine))].sort(), ["m1", "m2"]);
    assert.ok(
      records.every((r) => r.op === "start" && typeof r.duration_ms === "number" && r.operator),
    );
    const mode = (await Deno.stat(`${f.cli.dir}/local-state/provctl/audit.jsonl`)).mode! & 0o777;
    assert.equal(mode, 0o600);
    const prom = await f.cli.run(["metrics", "-o", "prom"], local);
    assert.equal(prom.code, 0, prom.stderr);
    assert.match(prom.stdout, /# TYPE provctl_operations_total counter/);
    assert.match(prom.stdout, /provctl_operations_total\{op="start",result="ok"\} \d+/);
    assert.match(
      prom.stdout,
      /provctl_operation_duration_seconds_bucket\{op="status",le="\+Inf"\} \d+/,
    );

    const stop = await f.run(["stop", "api", "-m", "m*"]);
    assert.equal(stop.code, 3, stop.stderr);
    assert.match(stop.stdout, /m1: Stopped api/);
    assert.match(stop.stdout, /m2: Stopped api/);
    assert.match(stop.stderr, /m3: failed: api is not known here/);
  } finally {
    await f.stop();
  }
});

test("an unreachable machine is reported, the others still answer", async () => {
  const f = await fleetSandbox(3);
  try {
    await f.fleet.kill(1);
    const status = await f.run(["status", "api", "--all", "-o", "json"]);
    assert.equal(status.code, 1, status.stderr);
    const rows = status.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.machine, r.state]), [["m1", "not-running"], [
      "m2",
      "unreachable",
    ], ["m3", "not-running"]]);
    assert.match(rows[1].reason, /refused|connect/i);

    const check = await f.run(["machines", "check"]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /m2\s+failed at connect/);

    const none = await f.run(["status", "-l", "role=nothing"]);
    assert.equal(none.code, 3);
    assert.match(none.stderr, /role=nothing/);
  } finally {
    await f.stop();
  }
});

test("health checks per machine: remote HTTP on each machine's own port, TCP, command", async () => {
  const ports = [0, 1, 2].map(() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (l.addr as Deno.NetAddr).port;
    l.close();
    return p;
  });
  const f = await fleetSandbox(3, () => ({}), (i) => ({ port: String(ports[i]) }));
  try {
    for (const i of [0, 1]) {
      const started = await f.run([
        "start",
        "web",
        "-m",
        `m${i + 1}`,
        "--",
        "python3",
        "-m",
        "http.server",
        String(ports[i]),
        "--bind",
        "127.0.0.1",
      ]);
      assert.equal(started.code, 0, started.stderr);
    }
    // Wait until both servers answer, then check from each machine itself.
    let out = { code: -1, stdout: "", stderr: "" };
    for (let i = 0; i < 50; i++) {
      out = await f.run([
        "health",
        "--all",
        "--from",
        "remote",
        "--http",
        "http://127.0.0.1:{port}/",
        "-o",
        "json",
      ]);
      const rows = out.stdout.trim().split("\n").map((l) => JSON.parse(l));
      if (rows[0]?.healthy && rows[1]?.healthy) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const rows = out.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.machine, r.healthy]), [["m1", true], ["m2", true], [
      "m3",
      false,
    ]]);
    assert.equal(out.code, 1);
    assert.match(rows[2].detail, /refused|connect|failed/i);

    const tcp = await f.run(["health", "m1", "m2", "--tcp", "127.0.0.1:{port}"]);
    assert.equal(tcp.code, 0, tcp.stdout + tcp.stderr);
    assert.match(tcp.stdout, /^HOST\s+HEALTH/);

    const cmd = await f.run(["health", "-m", "m3", "--", "sh", "-c", "exit 4"]);
    assert.equal(cmd.code, 1);
    assert.match(cmd.stdout, /m3\s+unhealthy/);

    const none = await f.run(["health", "--all"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /exactly one of --http/);
    await f.run(["stop", "web", "-m", "m1", "-m", "m2"]);
  } finally {
    await f.stop();
  }
});

test("exec across the fleet: grouped, streamed, json, variables, one host down, --max-failures", async () => {
  const f = await fleetSandbox(
    4,
    (i) => ({ role: i < 3 ? "web" : "db" }),
    (i) => ({ port: String(8000 + i) }),
  );
  try {
    const grouped = await f.run([
      "exec",
      "-l",
      "role=web",
      "--",
      "sh",
      "-c",
      'echo "port $1 on $(hostname)"; echo warn >&2',
      "sh",
      "{port}",
    ]);
    assert.equal(grouped.code, 0, grouped.stderr);
    assert.match(grouped.stdout, /=== m1 \(exit 0, [\d.]+s\)\nport 8000 on /);
    assert.match(grouped.stdout, /=== m3 \(exit 0, [\d.]+s\)\nport 8002 on /);
    assert.doesNotMatch(grouped.stdout, /m4/);
    assert.match(grouped.stderr, /warn/);
    assert.match(grouped.stderr, /3 machines: 3 ok, 0 failed, 0 unreachable, 0 skipped/);

    const streamed = await f.run(["exec", "m*", "--stream", "--", "echo", "hello {name}"]);
    assert.equal(streamed.code, 0, streamed.stderr);
    for (const m of ["m1", "m2", "m3", "m4"]) {
      assert.match(streamed.stdout, new RegExp(`^${m} \\| hello ${m}$`, "m"));
    }

    await f.fleet.kill(1);
    const json = await f.run([
      "exec",
      "--all",
      "-o",
      "json",
      "--forks",
      "2",
      "--",
      "sh",
      "-c",
      "exit {port}",
    ]);
    const rows = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.machine, r.status]), [
      ["m1", "failed"],
      ["m2", "unreachable"],
      ["m3", "failed"],
      ["m4", "failed"],
    ]);
    assert.equal(rows[0].exit_code, 8000 % 256);
    assert.equal(json.code, 1);
    assert.ok(
      rows.every((r) => typeof r.duration_ms === "number" && "stdout" in r && "attempts" in r),
    );

    const budget = await f.run([
      "exec",
      "--all",
      "--forks",
      "1",
      "--max-failures",
      "1",
      "--",
      "false",
    ]);
    assert.equal(budget.code, 1);
    assert.match(budget.stderr, /4 machines: 0 ok, 1 failed, 1 unreachable, 2 skipped/);
  } finally {
    await f.stop();
  }
});

test("a fleet start that fails shows each machine's last log lines, as a local start does", async () => {
  const f = await fleetSandbox(2);
  try {
    const start = await f.run([
      "start",
      "crashy",
      "--all",
      "--",
      "sh",
      "-c",
      "echo first-words; echo famous-last-words >&2; exit 4",
    ]);
    assert.equal(start.code, 1, start.stdout + start.stderr);
    for (const host of ["m1", "m2"]) {
      assert.match(start.stderr, new RegExp(`^${host}: .*exit code 4.*last lines of`, "m"));
      assert.match(start.stderr, new RegExp(`^${host}: first-words$`, "m"));
      assert.match(start.stderr, new RegExp(`^${host}: famous-last-words$`, "m"));
    }
  } finally {
    await f.stop();
  }
});

test("exec --stream: a reader that goes away ends provctl and every remote command", async () => {
  const f = await fleetSandbox(2, () => ({}), () => ({}));
  try {
    const pids = `${f.cli.dir}/pids`;
    const child = f.cli.spawn([
      "exec",
      "--all",
      "--stream",
      "--timeout",
      "0",
      "--inventory",
      f.inventory,
      "--ssh-config",
      f.sshConfig,
      "--shell",
      `echo $$ >> '${pids}'; exec yes`,
    ], { env: { PROVCTL_STATE_DIR: "", XDG_STATE_HOME: `${f.cli.dir}/local-state` } });
    const reader = child.stdout.getReader();
    let got = 0;
    while (got < 200_000) {
      const { value, done } = await reader.read();
      if (done) break;
      got += value.length;
    }
    const read = async () => (await Deno.readTextFile(pids)).trim().split("\n").map(Number);
    for (let i = 0; i < 100 && (await read().catch(() => [])).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (got < 200_000) throw new Error(await new Response(child.stderr).text());
    await reader.cancel(); // as `| head` does
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const status = await child.status;
    clearTimeout(timer);
    await child.stderr.cancel();
    assert.notEqual(status.signal, "SIGKILL", "provctl went on after its reader left");
    const alive = (pid: number) => {
      try {
        Deno.kill(pid, "SIGCONT");
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && (await read()).some(alive); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual((await read()).filter(alive), [], "remote commands still run");
  } finally {
    await f.stop();
  }
});
