import assert from "node:assert/strict";
import type { CommandRunner } from "../../src/exec/runner.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { AuditLog, type AuditRecord, readAudit } from "../../src/observe/audit_log.ts";
import { MetricsCollector, OPERATIONS_TOTAL } from "../../src/observe/metrics.ts";
import { RecordingRunner } from "../../src/observe/recording_runner.ts";
import { MASK } from "../../src/observe/redact.ts";
import { isProvctlError, ProvctlError } from "../../src/core/errors.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "../ssh/_helpers.ts";

interface Setup {
  dir: string;
  audit: AuditLog;
  metrics: MetricsCollector;
  records: () => Promise<AuditRecord[]>;
  count: (op: string, result: string) => number | undefined;
}

async function withSetup(fn: (s: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "provctl-recording-" });
  const audit = await AuditLog.open(`${dir}/audit.jsonl`);
  const metrics = new MetricsCollector();
  try {
    await fn({
      dir,
      audit,
      metrics,
      records: () => readAudit(`${dir}/audit.jsonl`).toArray(),
      count: (op, result) =>
        metrics.snapshot().families[OPERATIONS_TOTAL]?.series.find((s) =>
          s.labels.op === op && s.labels.result === result
        )?.value,
    });
  } finally {
    await audit.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("run(): same result as the wrapped runner, one redacted audit record, metrics", async () => {
  await withSetup(async ({ audit, metrics, records, count }) => {
    const local = new LocalRunner();
    const runner = new RecordingRunner(local, {
      audit,
      metrics,
      machine: "ctl",
      deploymentId: "api-7",
      operation: (program, args) => `${program}.${args[0] === "-c" ? "script" : "x"}`,
    });
    assert.equal(runner.target, "local");
    assert.equal(runner.remote, false);
    const args = ["-c", 'echo "$1"; echo oops >&2; exit 3', "sh", "API_TOKEN=tok123"];
    const direct = await local.run("sh", args);
    const recorded = await runner.run("sh", args);
    assert.deepEqual(recorded, direct);
    assert.deepEqual(recorded, {
      code: 3,
      signal: undefined,
      stdout: "API_TOKEN=tok123\n",
      stderr: "oops\n",
      timedOut: false,
    });
    const [r] = await records();
    assert.equal(r.machine, "ctl");
    assert.equal(r.target, "local");
    assert.equal(r.op, "sh.script");
    assert.equal(r.result, "failed");
    assert.equal(r.exit_code, 3);
    assert.equal(r.deployment_id, "api-7");
    assert.equal(typeof r.duration_ms, "number");
    assert.ok(r.duration_ms! >= 0);
    assert.equal(r.command, `sh -c 'echo "$1"; echo oops >&2; exit 3' sh API_TOKEN=${MASK}`);
    assert.ok(!JSON.stringify(await records()).includes("tok123"));
    assert.equal(count("sh.script", "failed"), 1);
    await runner.run("true", []);
    assert.equal((await records())[1].result, "ok");
    assert.equal(count("true.x", "ok"), 1);
  });
});

Deno.test("run(): errors pass through unchanged and are recorded; timeouts and aborts classified", async () => {
  await withSetup(async ({ audit, metrics, records, count }) => {
    const runner = new RecordingRunner(new LocalRunner(), { audit, metrics, operation: "exec" });
    let thrown: unknown;
    try {
      await runner.run("/nonexistent/provctl-no-such-program", ["--password", "pw"]);
    } catch (error) {
      thrown = error;
    }
    assert.ok(isProvctlError(thrown, "SpawnFailed"));
    const timed = await runner.run("sleep", ["5"], { timeoutMs: 50 });
    assert.equal(timed.timedOut, true);
    const controller = new AbortController();
    const aborted = runner.run("sleep", ["5"], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const abortedResult = await aborted;
    assert.notEqual(abortedResult.code, 0);
    const [missing, timeout, cancelled] = await records();
    assert.equal(missing.result, "error");
    assert.equal(missing.error, "errors.program_not_found");
    assert.equal(missing.command, `/nonexistent/provctl-no-such-program --password ${MASK}`);
    assert.equal(missing.exit_code, undefined);
    assert.equal(timeout.result, "timeout");
    assert.equal(timeout.exit_code, 137);
    assert.equal(cancelled.result, "cancelled");
    assert.equal(count("exec", "error"), 1);
    assert.equal(count("exec", "timeout"), 1);
    assert.equal(count("exec", "cancelled"), 1);
    const failures = metrics.snapshot().families["provctl_operation_failures_total"].series;
    assert.equal(failures[0].value, 3);
  });
});

Deno.test("stream(): output untouched, recorded when it ends; kill() is recorded as cancelled", async () => {
  await withSetup(async ({ audit, metrics, records }) => {
    const runner = new RecordingRunner(new LocalRunner(), { audit, metrics, operation: "logs" });
    const proc = runner.stream("sh", ["-c", "echo one; echo two >&2; exit 4"]);
    const [out, err, exit] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.done,
    ]);
    assert.equal(out, "one\n");
    assert.equal(err, "two\n");
    assert.equal(exit.code, 4);
    // Recorded by the time done resolves.
    assert.equal((await records()).length, 1);
    const follow = runner.stream("sleep", ["30"]);
    follow.kill();
    await Promise.all([follow.stdout.cancel(), follow.stderr.cancel()]);
    const stopped = await follow.done;
    assert.notEqual(stopped.code, 0);
    const [first, second] = await records();
    assert.equal(first.op, "logs");
    assert.equal(first.result, "failed");
    assert.equal(first.exit_code, 4);
    assert.equal(second.result, "cancelled");
    assert.equal(second.command, "sleep 30");
    // A stream that cannot start throws as before and is recorded.
    assert.throws(() => runner.stream("/nonexistent/provctl-x", []));
    await audit.close(); // waits for the pending record
    const third = (await records())[2];
    assert.equal(third.result, "error");
  });
});

Deno.test("an audit write failure never changes the operation's result; it is counted and reported", async () => {
  await withSetup(async ({ audit, metrics, count }) => {
    const reported: unknown[] = [];
    const runner = new RecordingRunner(new LocalRunner(), {
      audit,
      metrics,
      onRecordError: (e) => {
        reported.push(e);
        throw new Error("a throwing hook is ignored too");
      },
    });
    await audit.close(); // appends now fail
    const result = await runner.run("sh", ["-c", "echo fine"]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, "fine\n");
    assert.equal(runner.recordFailures, 1);
    assert.equal(reported.length, 1);
    assert.ok(reported[0] instanceof ProvctlError);
    // Metrics are still counted.
    assert.equal(count("exec", "ok"), 1);
  });
});

Deno.test("with(): other labels, same sinks; runShell needs a shell-capable runner", async () => {
  await withSetup(async ({ audit, metrics, records, count }) => {
    // A runner offering run/stream only (no runShell/streamShell).
    const local = new LocalRunner();
    const plain: CommandRunner = {
      target: "plain",
      remote: false,
      run: (p, a, o) => local.run(p, a, o),
      stream: (p, a, o) => local.stream(p, a, o),
    };
    const base = new RecordingRunner(plain, { audit, metrics, machine: "ctl" });
    const deploy = base.with({ operation: "deploy.step", deploymentId: "d9" });
    await deploy.run("true", []);
    await base.run("true", []);
    const [a, b] = await records();
    assert.deepEqual([a.op, a.machine, a.deployment_id], ["deploy.step", "ctl", "d9"]);
    assert.deepEqual([b.op, b.machine, b.deployment_id], ["exec", "ctl", undefined]);
    assert.equal(count("deploy.step", "ok"), 1);
    assert.throws(
      () => base.runShell("echo hi"),
      (e) => isProvctlError(e, "Unsupported") && e.key === "observe.recording_no_shell",
    );
  });
});

Deno.test("over SSH: remote runs and shell strings recorded; a host that went down is unreachable", async () => {
  const fleet = await startSshdFleet({ count: 1 });
  const pool = new SshPool({
    connect: quietAuth,
    retry: { attempts: 1, backoff: "fixed", baseMs: 0, maxMs: 0, jitterPercent: 0 },
    idleTimeoutMs: 0,
  });
  try {
    await withSetup(async ({ audit, metrics, records, count }) => {
      metrics.registerPoolStats(() => pool.stats().total);
      const ssh = new SshRunner({ plan: planOf(fleet, 0), pool });
      const runner = new RecordingRunner(ssh, { audit, metrics, machine: "web-1" });
      assert.equal(runner.remote, true);
      const result = await runner.run("sh", ["-c", 'printf %s "$SSH_CONNECTION"']);
      assert.equal(result.code, 0);
      assert.ok(result.stdout.endsWith(String(fleet.hosts[0].port)));
      const shell = await runner.runShell("MYSQL_PWD=s3cret; echo $((6*7))");
      assert.equal(shell.stdout, "42\n");
      await fleet.kill(0);
      await assert.rejects(runner.run("true", []), (e) => isProvctlError(e, "ConnectionFailed"));
      const [ok, sh, down] = await records();
      assert.equal(ok.result, "ok");
      assert.equal(ok.target, ssh.target);
      assert.equal(ok.machine, "web-1");
      assert.equal(sh.command, `MYSQL_PWD=${MASK}; echo $((6*7))`);
      assert.equal(down.result, "unreachable");
      assert.match(down.error!, /^ssh\./);
      assert.equal(count("exec", "ok"), 2);
      assert.equal(count("exec", "unreachable"), 1);
      const snap = metrics.snapshot();
      assert.ok(snap.families["provctl_ssh_connections_created_total"].series[0].value! >= 1);
      assert.equal(snap.families["provctl_ssh_connections_failed_total"].series[0].value, 1);
    });
  } finally {
    await pool.close();
    await fleet.stop();
  }
});
