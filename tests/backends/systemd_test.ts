/**
 * SystemdBackend against a REAL systemd: PID 1 of its own namespaces, booted by
 * tests/fixtures/systemd_sandbox.ts (scripts/systemd_sandbox.sh) once for this file and
 * stopped by the last test. Where it cannot run (not Linux, not root, no systemd
 * package) every real-systemd case is registered as ignored with the reason printed.
 */
import assert from "node:assert/strict";
import { waitFor } from "../helpers/cli.ts";
import { expectProvctlError } from "../helpers/errors.ts";
import { SystemdBackend, type SystemdBackendOptions } from "../../src/backends/systemd.ts";
import { parseShow, parseShowTimestamp, statusFromShow } from "../../src/backends/_systemd_show.ts";
import { systemctlError } from "../../src/backends/_systemd_errors.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import {
  startSystemdSandbox,
  type SystemdSandbox,
  systemdSandboxUnavailable,
} from "../fixtures/systemd_sandbox.ts";
import { runBackendConformance } from "./conformance.ts";

const UNIT_DIR = "/run/systemd/system"; // a tmpfs private to the sandbox
const unavailable = systemdSandboxUnavailable();
if (unavailable) {
  console.error(`systemd backend tests against a real systemd are ignored: ${unavailable}`);
}

let sandbox: SystemdSandbox | undefined;
async function booted(): Promise<SystemdSandbox> {
  sandbox ??= await startSystemdSandbox();
  return sandbox;
}

function backendIn(sb: SystemdSandbox, extra: Partial<SystemdBackendOptions> = {}): SystemdBackend {
  return new SystemdBackend({
    runner: sb.runner,
    scope: "system",
    unitDir: UNIT_DIR,
    commandTimeoutMs: 15_000,
    startGraceMs: 300,
    ...extra,
  });
}

let counter = 0;
function uniqueName(prefix: string): ServiceName {
  return parseServiceName(`sd-${prefix}-${Deno.pid}-${++counter}`);
}

const expectError = expectProvctlError;

async function logsOf(backend: SystemdBackend, name: ServiceName): Promise<string> {
  const chunks: Uint8Array[] = [];
  await backend.logs(name, { lines: 50 }, (c) => chunks.push(c));
  return chunks.map((c) => new TextDecoder().decode(c)).join("");
}

const until = waitFor;

async function unitFiles(sb: SystemdSandbox): Promise<string[]> {
  const result = await sb.runner.run("ls", ["-1", UNIT_DIR]);
  return result.stdout.split("\n").filter((f) => f.endsWith(".service"));
}

function realTest(name: string, fn: (sb: SystemdSandbox) => Promise<void>): void {
  Deno.test({
    name: `systemd (real): ${name}`,
    ignore: Boolean(unavailable),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => await fn(await booted()),
  });
}

// --- the shared suite, on the real systemd ---

runBackendConformance({
  name: "systemd",
  boot: true,
  ignore: unavailable ?? false,
  setup: async () => {
    const sb = await booted();
    const scratchDir = await Deno.makeTempDir({ prefix: "provctl-sd-conf-" });
    return {
      backend: backendIn(sb),
      runner: sb.runner,
      scratchDir,
      teardown: () => Deno.remove(scratchDir, { recursive: true }),
    };
  },
});

// --- systemd-specific cases ---

realTest(
  "start writes a marked unit, status has the real PID, restart and stop work",
  async (sb) => {
    const backend = backendIn(sb);
    const n = uniqueName("life");
    const started = await backend.start(
      defineService(n).binary("sh").args(["-c", "echo life-started; exec sleep 300"]).description(
        "life test",
      ).build(),
    );
    assert.equal(started.status.state, "running");
    const unit = await sb.runner.run("cat", [`${UNIT_DIR}/${n}.service`]);
    assert.match(unit.stdout, /^# Managed by provctl/);
    assert.match(
      unit.stdout,
      /ExecStart="\/(usr\/)?bin\/sh" "-c"/,
      "a bare program name is resolved to a path",
    );
    const status = await backend.status(n);
    assert.equal(status.state, "running");
    if (status.state !== "running") return;
    assert.ok(
      status.since instanceof Date && Math.abs(status.since.getTime() - Date.now()) < 60_000,
    );
    // The PID is a real process inside the sandbox running our command.
    const cmdline = await sb.runner.run("cat", [`/proc/${status.pid}/cmdline`]);
    assert.equal(cmdline.stdout.split("\0")[0], "sleep");
    const restarted = await backend.restart(n);
    assert.equal(restarted.status.state, "running");
    if (restarted.status.state === "running") assert.notEqual(restarted.status.pid, status.pid);
    await until("journal line", async () => (await logsOf(backend, n)).includes("life-started"));
    // short-iso lines carry a timestamp.
    assert.match(await logsOf(backend, n), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/m);
    assert.deepEqual(await backend.stop(n), { changed: true, killed: false });
    assert.deepEqual(await backend.stop(n), { changed: false });
    assert.equal((await backend.status(n)).state, "not-running");
    await backend.uninstall(n);
  },
);

realTest(
  "every argument, environment value and path reaches the program byte for byte",
  async (sb) => {
    const backend = backendIn(sb);
    const n = uniqueName("quote");
    const dir = await Deno.makeTempDir({ prefix: "provctl sd 100%-" });
    try {
      const hostile = [
        "two words",
        'double "quotes"',
        "single 'quotes'",
        "$HOME ${PATH} $$",
        "%n %% %",
        "back\\slash\\",
        "line\nbreak\ttab",
        ";",
        "",
        "unicode é ✓",
        "-dash",
      ];
      const script =
        `printf '%s\\0' "$@" > "$0/args"; printf '%s' "$PROVCTL_V" > "$0/env"; pwd > "$0/cwd"; exec sleep 300`;
      const envValue = 'a "b" $c %d \\e\nf';
      await backend.start(
        defineService(n).binary("/bin/sh").args(["-c", script, dir, ...hostile]).env(
          "PROVCTL_V",
          envValue,
        )
          .workingDir(dir).build(),
      );
      await until("files written by the service", async () => {
        try {
          return (await Deno.readTextFile(`${dir}/cwd`)).length > 0;
        } catch {
          return false;
        }
      });
      assert.deepEqual((await Deno.readTextFile(`${dir}/args`)).split("\0").slice(0, -1), hostile);
      assert.equal(await Deno.readTextFile(`${dir}/env`), envValue);
      assert.equal((await Deno.readTextFile(`${dir}/cwd`)).trimEnd(), dir);
      await backend.uninstall(n);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

realTest(
  "a unit that fails at start: StartFailed quoting the journal, status failed with the code",
  async (sb) => {
    const backend = backendIn(sb);
    const n = uniqueName("fail");
    const def = defineService(n).binary("/bin/sh").args([
      "-c",
      "echo 'config file /etc/nope missing' >&2; exit 3",
    ])
      .build();
    const error = await expectError("StartFailed", () => backend.start(def));
    // Whether `systemctl start` itself sees the exit or the grace-period check does is a
    // race of the machine's scheduling; both report StartFailed with the journal.
    assert.ok(["systemd.exited_at_start", "systemd.start_failed"].includes(error.key), error.key);
    assert.match(String(error.params.journal), /config file \/etc\/nope missing/);
    const status = await backend.status(n);
    assert.equal(status.state, "failed");
    if (status.state === "failed") {
      assert.equal(status.reason, "exit-code");
      assert.equal(status.code, 3);
    }
    assert.match(await logsOf(backend, n), /config file \/etc\/nope missing/);
    // The message renders with the catalog (no missing placeholders).
    const text = new Messages(embeddedMessages()).format(error.key, error.params);
    assert.doesNotMatch(text, /\{[a-z_]+\}/);
    await backend.uninstall(n);
    assert.equal(
      (await backend.status(n)).state,
      "not-running",
      "uninstall forgets the failed state",
    );
  },
);

realTest("a service killed by a signal shows the signal", async (sb) => {
  const backend = backendIn(sb);
  const n = uniqueName("sig");
  await backend.start(defineService(n).binary("/bin/sleep").args(["300"]).build());
  const status = await backend.status(n);
  assert.equal(status.state, "running");
  await sb.runner.run("systemctl", ["kill", "-s", "SIGKILL", `${n}.service`]);
  await until("failed state", async () => (await backend.status(n)).state === "failed");
  const after = await backend.status(n);
  assert.deepEqual(after, { state: "failed", reason: "signal", signal: "SIGKILL" });
  await backend.uninstall(n);
});

realTest("a program that cannot be executed fails the start job", async (sb) => {
  const backend = backendIn(sb);
  const n = uniqueName("noexec");
  const error = await expectError(
    "StartFailed",
    () => backend.start(defineService(n).binary("/nonexistent/provctl-binary").build()),
  );
  assert.equal(error.key, "systemd.start_failed");
  await expectError(
    "SpawnFailed",
    () => backend.start(defineService(n).binary("provctl-no-such-program").build()),
  );
  await backend.uninstall(n);
});

realTest(
  "a unit provctl did not write is controlled but never overwritten or removed without force",
  async (sb) => {
    const backend = backendIn(sb);
    const n = uniqueName("foreign");
    const path = `${UNIT_DIR}/${n}.service`;
    const foreign = "[Unit]\nDescription=hand written\n[Service]\nExecStart=/bin/sleep 300\n";
    await sb.runner.run("sh", ["-c", 'cat > "$0" && systemctl daemon-reload', path], {
      stdin: foreign,
    });
    try {
      assert.equal((await backend.status(n)).state, "not-running");
      const restarted = await backend.restart(n);
      assert.equal(restarted.status.state, "running");
      assert.equal((await backend.stop(n)).changed, true);
      const conflict = await expectError(
        "Conflict",
        () => backend.start(defineService(n).binary("/bin/true").build()),
      );
      assert.equal(conflict.hint, "systemd.hint_force");
      await expectError("Conflict", () => backend.uninstall(n));
      assert.equal((await sb.runner.run("cat", [path])).stdout, foreign, "file untouched");
      assert.ok(!(await backend.list()).includes(n), "list shows only provctl's units");
      await backendIn(sb, { force: true }).uninstall(n);
      assert.ok(!(await unitFiles(sb)).includes(`${n}.service`));
    } finally {
      await sb.runner.run("sh", ["-c", 'rm -f "$0"; systemctl daemon-reload', path]);
    }
  },
);

realTest("bad names are refused before any file is written", async (sb) => {
  const backend = backendIn(sb);
  const before = await unitFiles(sb);
  for (const bad of ["../escape", "a@b@c", "tmpl@", "sp ace", ""]) {
    const def = {
      ...defineService(parseServiceName("ok")).binary("/bin/true").build(),
      name: bad as ServiceName,
    };
    await expectError("InvalidName", () => backend.start(def));
    await expectError("InvalidName", () => backend.stop(bad as ServiceName));
  }
  assert.deepEqual(await unitFiles(sb), before);
});

realTest("enable and disable set boot persistence", async (sb) => {
  const backend = backendIn(sb);
  const n = uniqueName("boot");
  const installed = await backend.install(
    defineService(n).binary("/bin/sleep").args(["300"]).build(),
  );
  assert.equal(installed.changed, true);
  assert.equal(
    (await backend.install(defineService(n).binary("/bin/sleep").args(["300"]).build())).changed,
    false,
  );
  const isEnabled = async () =>
    (await sb.runner.run("systemctl", ["is-enabled", `${n}.service`])).stdout.trim();
  assert.equal(await isEnabled(), "disabled");
  assert.deepEqual(await backend.enable(n), { changed: true });
  assert.equal(await isEnabled(), "enabled");
  assert.deepEqual(await backend.enable(n), { changed: false });
  assert.deepEqual(await backend.disable(n), { changed: true });
  assert.equal(await isEnabled(), "disabled");
  await backend.enable(n);
  await backend.uninstall(n);
  assert.equal((await sb.runner.run("systemctl", ["is-enabled", `${n}.service`])).code !== 0, true);
  assert.ok(!(await unitFiles(sb)).includes(`${n}.service`), "uninstall leaves no unit file");
  const wants = await sb.runner.run("ls", ["/etc/systemd/system/multi-user.target.wants"]);
  assert.ok(!wants.stdout.includes(n), "uninstall leaves no enable symlink");
  await expectError("NotFound", () => backend.enable(uniqueName("nothere")));
});

realTest("logs -f streams new lines and ends on abort", async (sb) => {
  const backend = backendIn(sb);
  const n = uniqueName("follow");
  await backend.start(
    defineService(n).binary("/bin/sh").args([
      "-c",
      "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.2; done",
    ])
      .build(),
  );
  const controller = new AbortController();
  let seen = "";
  const done = backend.logs(n, { lines: 1, follow: true, signal: controller.signal }, (chunk) => {
    seen += new TextDecoder().decode(chunk);
    if ((seen.match(/tick-/g) ?? []).length >= 3) controller.abort();
  });
  await done;
  assert.ok((seen.match(/tick-/g) ?? []).length >= 3, seen);
  await until(
    "journalctl gone",
    async () => (await sb.runner.run("pgrep", ["-x", "journalctl"])).code === 1,
  );
  await backend.uninstall(n);
});

realTest("user scope without a user manager is a clear BackendUnavailable", async (sb) => {
  const backend = backendIn(sb, { scope: "user", unitDir: undefined, host: undefined });
  const error = await expectError("BackendUnavailable", () => backend.status(uniqueName("user")));
  assert.equal(error.key, "systemd.bus_unavailable");
  assert.equal(error.hint, "systemd.hint_user_manager");
});

realTest("logs and stop of an unknown unit are NotFound", async (sb) => {
  const backend = backendIn(sb);
  await expectError("NotFound", () => logsOf(backend, uniqueName("ghost")));
  await expectError("NotFound", () => backend.uninstall(uniqueName("ghost")));
});

Deno.test({
  name: "systemd (real): stop the sandbox",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    if (!sandbox) return;
    await sandbox.stop();
    sandbox = undefined;
  },
});

// --- parsing and error mapping (no systemd needed) ---

Deno.test("statusFromShow maps systemctl show output", () => {
  const running = parseShow(
    "MainPID=42\nActiveState=active\nSubState=running\nLoadState=loaded\nActiveEnterTimestamp=Thu 2026-11-26 17:19:50 UTC\n",
  );
  assert.deepEqual(statusFromShow(running), {
    state: "running",
    pid: 42,
    since: new Date("2026-11-26T17:19:50Z"),
  });
  assert.deepEqual(
    statusFromShow(
      parseShow(
        "LoadState=loaded\nActiveState=failed\nResult=exit-code\nExecMainCode=1\nExecMainStatus=3",
      ),
    ),
    { state: "failed", reason: "exit-code", code: 3 },
  );
  assert.deepEqual(
    statusFromShow(
      parseShow(
        "LoadState=loaded\nActiveState=failed\nResult=core-dump\nExecMainCode=3\nExecMainStatus=11",
      ),
    ),
    { state: "failed", reason: "core-dump", signal: "SIGSEGV" },
  );
  assert.equal(statusFromShow(parseShow("LoadState=not-found\nActiveState=inactive")), undefined);
  assert.equal(
    statusFromShow(parseShow("LoadState=loaded\nActiveState=inactive\nMainPID=0"))?.state,
    "not-running",
  );
  assert.equal(
    parseShowTimestamp("Thu 2026-11-26 17:19:50 CET"),
    undefined,
    "other zones are not guessed",
  );
  assert.equal(parseShowTimestamp(""), undefined);
});

Deno.test("systemctl failures become errors that say what to do", () => {
  const fail = (stderr: string, scope: "system" | "user" = "system") =>
    systemctlError({ code: 1, stdout: "", stderr, timedOut: false }, {
      command: "start",
      unit: "api.service",
      target: "local",
      scope,
    });
  const denied = fail(
    "Failed to start api.service: Access denied\nSee system logs and 'systemctl status api.service' for details.",
  );
  assert.equal(denied.kind, "PermissionDenied");
  assert.equal(denied.hint, "systemd.hint_sudo_or_user");
  assert.equal(
    fail("Failed to connect to bus: No medium found", "user").hint,
    "systemd.hint_user_manager",
  );
  assert.equal(
    fail("System has not been booted with systemd as init system (PID 1). Can't operate.").kind,
    "BackendUnavailable",
  );
  assert.equal(fail("Failed to start api.service: Unit api.service not found.").kind, "NotFound");
  assert.equal(
    fail("Job for api.service failed because the control process exited with error code.").kind,
    "StartFailed",
  );
  assert.equal(fail("something else entirely").kind, "CommandFailed");
  const messages = new Messages(embeddedMessages());
  for (const e of [denied, fail("weird")]) {
    assert.doesNotMatch(messages.format(e.key, e.params), /\{[a-z_]+\}/);
  }
});
