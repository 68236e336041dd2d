import assert from "node:assert/strict";
import { detectBackends } from "../../src/backends/detect.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { probeHost } from "../../src/exec/host_fs.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { startSystemdSandbox, systemdSandboxUnavailable } from "../fixtures/systemd_sandbox.ts";

const messages = new Messages(embeddedMessages());
const unavailable = systemdSandboxUnavailable();
if (unavailable) console.error(`detection inside a real systemd is ignored: ${unavailable}`);

function assertRenders(report: Awaited<ReturnType<typeof detectBackends>>): void {
  for (const b of report.backends) {
    assert.doesNotMatch(
      messages.format(b.reason.key, b.reason.params),
      /\{[a-z_]+\}/,
      b.reason.key,
    );
  }
}

Deno.test("detection on this machine matches what is really here", async () => {
  const runner = new LocalRunner();
  const host = await probeHost(runner);
  const report = await detectBackends(runner, host);
  assert.deepEqual(report.backends.map((b) => b.name), ["systemd", "launchd", "pidfile"]);
  const pidfile = report.backends[2];
  assert.equal(pidfile.available, true);
  let booted = true;
  try {
    await Deno.stat("/run/systemd/system");
  } catch {
    booted = false;
  }
  const systemd = report.backends[0];
  if (!booted) {
    assert.equal(systemd.available, false);
    assert.equal(
      systemd.reason.key,
      Deno.build.os === "linux" ? "detect.systemd_not_booted" : "detect.systemd_not_linux",
    );
  }
  assert.equal(report.backends[1].available, Deno.build.os === "darwin");
  assert.equal(report.chosen, report.backends.find((b) => b.available)!.name);
  assertRenders(report);
});

Deno.test({
  name:
    "detection inside a real systemd: system scope chosen, user scope explains the missing manager",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sandbox = await startSystemdSandbox();
    try {
      const host = await probeHost(sandbox.runner);
      const report = await detectBackends(sandbox.runner, host);
      assert.equal(report.chosen, "systemd");
      assert.equal(report.systemdScope, "system");
      assert.equal(report.backends[0].reason.key, "detect.systemd_ok");
      assert.match(String(report.backends[0].reason.params.version), /^systemd \d+/);
      // The sandbox has no user manager (no D-Bus, no logind): user scope must say so.
      const user = await detectBackends(sandbox.runner, host, { scope: "user" });
      assert.equal(user.backends[0].available, false);
      assert.equal(user.backends[0].reason.key, "detect.systemd_no_user_manager");
      assert.equal(user.chosen, "pidfile");
      assertRenders(report);
      assertRenders(user);
    } finally {
      await sandbox.stop();
    }
  },
});

Deno.test("a non-Linux, non-macOS host falls back to pidfile without running anything", async () => {
  const runner = new LocalRunner();
  const report = await detectBackends(runner, {
    os: "FreeBSD",
    home: "/root",
    tmp: "/tmp",
    uid: 0,
    user: "root",
  });
  assert.equal(report.chosen, "pidfile");
  assert.equal(report.backends[0].reason.key, "detect.systemd_not_linux");
  assert.equal(report.backends[1].reason.key, "detect.launchd_not_macos");
  assertRenders(report);
});
