import assert from "node:assert/strict";
import { waitFor } from "../helpers/cli.ts";
import { readFileIfExists, removeFile, sh, writeFileAtomic } from "../../src/exec/host_fs.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "./_helpers.ts";

const HOSTILE = [
  "; rm -rf /tmp/provctl-must-not-exist",
  "$(id)",
  "`id`",
  "it's",
  '"double"',
  "back\\slash",
  "new\nline",
  "",
  " leading and trailing ",
  "ünïcödé ✓ 日本",
  "*",
  "~",
  "$HOME",
  "a'b\"c$d`e\\f",
  "-n",
  "--",
  "=x",
  "!!",
  "\t",
];

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

Deno.test("SshRunner against a real sshd", async (t) => {
  const fleet = await startSshdFleet({ count: 1 });
  const pool = new SshPool({
    connect: quietAuth,
    retry: { attempts: 1, backoff: "fixed", baseMs: 0, maxMs: 0, jitterPercent: 0 },
  });
  const runner = new SshRunner({ plan: planOf(fleet, 0), pool });
  try {
    await t.step("runs a program with exit code, stdout and stderr", async () => {
      const result = await runner.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 7"]);
      assert.deepEqual(result, {
        code: 7,
        signal: undefined,
        stdout: "out\n",
        stderr: "err\n",
        timedOut: false,
      });
      assert.equal(runner.target, `ssh root@${fleet.hosts[0].address}:${fleet.hosts[0].port}`);
      assert.equal(runner.remote, true);
    });

    await t.step("really runs remotely (sshd's session, not a local process)", async () => {
      const result = await runner.run("sh", ["-c", 'printf %s "$SSH_CONNECTION"']);
      const [clientAddr, , serverAddr, serverPort] = result.stdout.split(" ");
      assert.equal(serverAddr, fleet.hosts[0].address);
      assert.equal(Number(serverPort), fleet.hosts[0].port);
      assert.match(clientAddr, /^127\./);
    });

    await t.step("hostile arguments arrive byte-exact", async () => {
      const result = await runner.run("printf", ["%s\\n", ...HOSTILE]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, HOSTILE.map((a) => `${a}\n`).join(""));
      const exists = await runner.run("test", ["-e", "/tmp/provctl-must-not-exist"]);
      assert.equal(exists.code, 1);
    });

    await t.step("hostile program name, env values and cwd are quoted too", async () => {
      const dir = `${fleet.dir}/dir with 'quote' and $(id)`;
      await Deno.mkdir(dir);
      const result = await runner.run("sh", ["-c", 'printf "%s|%s|%s" "$A" "$B" "$(pwd)"'], {
        env: { A: "$(id); `id` 'q'", B: "line1\nline2" },
        cwd: dir,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `$(id); \`id\` 'q'|line1\nline2|${dir}`);
      const missing = await runner.run("no such program; id", []);
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /no such program; id/);
    });

    await t.step("a missing cwd fails the command, not the connection", async () => {
      const result = await runner.run("true", [], { cwd: "/nonexistent/dir" });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /nonexistent/);
    });

    await t.step("stdin is passed and closed", async () => {
      const input = "line one\nline 'two' $(id)\n" + "x".repeat(200_000);
      const result = await runner.run("cat", [], { stdin: input });
      assert.equal(result.stdout, input);
      const bytes = new Uint8Array([0, 1, 2, 255, 10]);
      const count = await runner.run("wc", ["-c"], { stdin: bytes });
      assert.equal(count.stdout.trim(), "5");
      // Without stdin the program sees EOF at once instead of hanging.
      const eof = await runner.run("cat", [], { timeoutMs: 5000 });
      assert.deepEqual([eof.code, eof.timedOut], [0, false]);
    });

    await t.step("a program killed by a signal reports 128+N and the name", async () => {
      const result = await runner.run("sh", ["-c", "kill -TERM $$"]);
      assert.deepEqual([result.code, result.signal], [143, "SIGTERM"]);
    });

    await t.step("timeout stops the remote program and reports timedOut", async () => {
      // A unique duration marks the remote sleep (the shell execs it, so a comment in
      // the script would not survive in its command line).
      const marker = `sleep 30.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
      const started = Date.now();
      const result = await runner.run("sh", ["-c", marker], {
        timeoutMs: 300,
      });
      assert.equal(result.timedOut, true);
      assert.ok(Date.now() - started < 5000);
      // The remote program is gone too (sshd delivered the signal).
      await waitFor("the remote sleep to end", async () => {
        const ps = await runner.run("pgrep", ["-f", marker]);
        return ps.stdout === "";
      });
      // The pooled connection still works after a timed-out command.
      assert.equal((await runner.run("echo", ["ok"])).stdout, "ok\n");
    });

    await t.step("abort signal stops the program", async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const result = await runner.run("sleep", ["30"], { signal: controller.signal });
      assert.equal(result.code, 137);
    });

    await t.step("runShell runs a shell string on purpose", async () => {
      const result = await runner.runShell("echo a | tr a b; echo $X >&2", {
        env: { X: "it's" },
        cwd: "/tmp",
      });
      assert.deepEqual([result.code, result.stdout, result.stderr], [0, "b\n", "it's\n"]);
      const cdFails = await runner.runShell("false || echo should-not-run", {
        cwd: "/nonexistent",
      });
      assert.equal(cdFails.code, 1);
      assert.equal(cdFails.stdout, "");
    });

    await t.step("stream() delivers output as it comes and kill() stops it", async () => {
      const proc = runner.stream("sh", [
        "-c",
        "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done",
      ]);
      const reader = proc.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /^line0/);
      proc.kill();
      const status = await proc.done;
      assert.equal(status.code, 137);
      assert.equal(status.signal, "SIGKILL");
      await reader.cancel();
      await proc.stderr.cancel();
    });

    await t.step(
      "stream() of a finishing program ends its streams with the exit code",
      async () => {
        const proc = runner.stream("sh", ["-c", "echo hi; echo bad >&2; exit 3"]);
        const [out, err, status] = await Promise.all([
          readAll(proc.stdout),
          readAll(proc.stderr),
          proc.done,
        ]);
        assert.deepEqual([out, err, status.code], ["hi\n", "bad\n", 3]);
      },
    );

    await t.step("host_fs works remotely (PID-file style writes and reads)", async () => {
      const path = `${fleet.dir}/state dir/run/svc's.pid`;
      assert.equal(await readFileIfExists(runner, path), undefined);
      await writeFileAtomic(runner, path, "12345\n", { mode: "0600" });
      assert.equal(await Deno.readTextFile(path), "12345\n");
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal(await readFileIfExists(runner, path), "12345\n");
      const alive = await sh(
        runner,
        'kill -0 "$(cat "$1")" 2>/dev/null && echo alive || echo dead',
        [path],
      );
      assert.equal(alive.stdout, "dead\n");
      await removeFile(runner, path);
      assert.equal(await readFileIfExists(runner, path), undefined);
    });

    await t.step("one connection served every command", () => {
      const { total } = pool.stats();
      assert.equal(total.created, 1);
      assert.equal(total.failed, 0);
      assert.ok(total.reused >= 10);
    });
  } finally {
    await pool.close();
    await fleet.stop();
  }
});
