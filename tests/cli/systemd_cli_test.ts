/**
 * The CLI end to end on a real systemd (PID 1 of its own namespaces): with no --backend,
 * provctl detects systemd, writes a unit, starts it, reads the journal, stops and
 * uninstalls it.
 */
import assert from "node:assert/strict";
import { startSystemdSandbox, systemdSandboxUnavailable } from "../fixtures/systemd_sandbox.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const unavailable = systemdSandboxUnavailable();
if (unavailable) console.error(`systemd CLI tests skipped: ${unavailable}`);

Deno.test({
  name: "CLI on a real systemd: auto-detect, start, status, logs, stop, uninstall",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sandbox = await startSystemdSandbox();
    const state = await Deno.makeTempDir({ prefix: "provctl-sd-cli-" });
    const provctl = async (...args: string[]) => {
      const r = await sandbox.runner.run(Deno.execPath(), [
        "run",
        "--allow-all",
        "--quiet",
        MAIN,
        ...args,
      ], {
        env: { PROVCTL_STATE_DIR: state, NO_COLOR: "1" },
        timeoutMs: 60_000,
      });
      return r;
    };
    try {
      const doctor = await provctl("doctor", "-o", "json");
      assert.equal(doctor.code, 0, doctor.stderr);
      assert.equal(JSON.parse(doctor.stdout).chosen, "systemd");

      const start = await provctl(
        "start",
        "cli-api",
        "--",
        "/bin/sh",
        "-c",
        'echo "hello $1"; exec sleep 300',
        "sh",
        "a b $c",
      );
      assert.equal(start.code, 0, start.stderr);
      assert.match(start.stdout, /^Started cli-api \(PID \d+, backend systemd\)/);

      const unit = await sandbox.runner.run("cat", ["/etc/systemd/system/cli-api.service"]);
      assert.equal(unit.code, 0);
      assert.match(unit.stdout, /provctl/i);

      const status = await provctl("status", "cli-api", "-o", "json");
      assert.equal(status.code, 0, status.stderr);
      const row = JSON.parse(status.stdout);
      assert.equal(row.backend, "systemd");
      assert.equal(row.state, "running");

      let logs = "";
      for (let i = 0; i < 50 && !logs.includes("hello a b $c"); i++) {
        logs = (await provctl("logs", "cli-api", "-n", "20")).stdout;
        if (!logs.includes("hello a b $c")) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(logs, /hello a b \$c/);

      const stop = await provctl("stop", "cli-api");
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(stop.stdout, "Stopped cli-api\n");
      assert.equal((await provctl("status", "cli-api")).code, 3);

      const uninstall = await provctl("uninstall", "cli-api");
      assert.equal(uninstall.code, 0, uninstall.stderr);
      assert.notEqual(
        (await sandbox.runner.run("test", ["-e", "/etc/systemd/system/cli-api.service"])).code,
        0,
      );

      const pidfile = await provctl(
        "start",
        "forced-pidfile",
        "--backend",
        "pidfile",
        "--",
        "sleep",
        "300",
      );
      assert.equal(pidfile.code, 0, pidfile.stderr);
      assert.match(pidfile.stdout, /backend pidfile/);
      await provctl("stop", "forced-pidfile", "--backend", "pidfile");
    } finally {
      await sandbox.stop();
      await Deno.remove(state, { recursive: true });
    }
  },
});
