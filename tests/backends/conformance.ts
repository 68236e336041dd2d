/**
 * The shared backend conformance suite: every Backend (pidfile, systemd, launchd) must
 * pass these cases. A backend's test file only calls runBackendConformance with a
 * setup that gives a backend, its runner and a scratch directory on the runner's machine.
 */
import assert from "node:assert/strict";
import { waitFor } from "../helpers/cli.ts";
import { expectProvctlError } from "../helpers/errors.ts";
import type { Backend } from "../../src/backends/backend.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";
import type { CommandRunner } from "../../src/exec/runner.ts";

export interface ConformanceFixture {
  readonly backend: Backend;
  readonly runner: CommandRunner;
  /** A writable directory on the runner's machine. */
  readonly scratchDir: string;
  teardown(): Promise<void>;
}

export interface ConformanceOptions {
  readonly name: string;
  /** A reason to register every case as ignored (e.g. "systemd needs root"). */
  readonly ignore?: string | false;
  readonly setup: () => Promise<ConformanceFixture>;
  /** Whether the backend starts services at boot (its `boot` is defined); checked. */
  readonly boot: boolean;
}

let counter = 0;
function uniqueName(prefix: string): ServiceName {
  counter++;
  return parseServiceName(`conf-${prefix}-${Deno.pid}-${counter}`);
}

const until = waitFor;

async function collectLogs(backend: Backend, name: ServiceName, lines: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  await backend.logs(name, { lines }, (c) => chunks.push(c));
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

const expectError = expectProvctlError;

/** The command line of a process on the runner's machine ("" when it is gone). */
async function commandLineOf(runner: CommandRunner, pid: number): Promise<string> {
  const r = await runner.run("ps", ["-o", "args=", "-p", String(pid)]);
  return r.code === 0 ? r.stdout.trim() : "";
}

/** The process exists and is not a zombie (an orphan not reaped yet is gone for us). */
async function isLive(runner: CommandRunner, pid: number): Promise<boolean> {
  const r = await runner.run("ps", ["-o", "stat=", "-p", String(pid)]);
  return r.code === 0 && r.stdout.trim() !== "" && !r.stdout.trim().startsWith("Z");
}

export function runBackendConformance(options: ConformanceOptions): void {
  const used: ServiceName[] = [];
  const ignore = Boolean(options.ignore);
  if (options.ignore) {
    console.error(`[${options.name}] conformance suite skipped: ${options.ignore}`);
  }

  const name = (prefix: string) => {
    const n = uniqueName(prefix);
    used.push(n);
    return n;
  };
  const cases: { title: string; fn: (f: ConformanceFixture) => Promise<void> }[] = [];
  const test = (title: string, fn: (f: ConformanceFixture) => Promise<void>) =>
    cases.push({ title, fn });

  test("start, status running, logs, stop, status not running", async ({ backend }) => {
    const n = name("basic");
    const def = defineService(n).binary("/bin/sh").args([
      "-c",
      "echo conformance-started; exec sleep 300",
    ]).build();
    const started = await backend.start(def);
    assert.equal(started.status.state, "running");
    const status = await backend.status(n);
    assert.equal(status.state, "running");
    if (status.state === "running") assert.ok(status.pid > 0);
    await until(
      "log line",
      async () => (await collectLogs(backend, n, 20)).includes("conformance-started"),
    );
    const stopped = await backend.stop(n);
    assert.equal(stopped.changed, true);
    const after = await backend.status(n);
    assert.notEqual(after.state, "running");
    await backend.uninstall(n);
  });

  test("restart gives a new process", async ({ backend }) => {
    const n = name("restart");
    await backend.start(defineService(n).binary("/bin/sh").args(["-c", "exec sleep 300"]).build());
    const first = await backend.status(n);
    assert.equal(first.state, "running");
    const again = await backend.restart(n);
    assert.equal(again.status.state, "running");
    const second = await backend.status(n);
    assert.equal(second.state, "running");
    if (first.state === "running" && second.state === "running") {
      assert.notEqual(first.pid, second.pid);
    }
    await backend.uninstall(n);
  });

  test("double start is refused as AlreadyRunning and leaves the first running", async ({ backend }) => {
    const n = name("double");
    const def = defineService(n).binary("/bin/sh").args(["-c", "exec sleep 300"]).build();
    await backend.start(def);
    const before = await backend.status(n);
    await expectError("AlreadyRunning", () => backend.start(def));
    const after = await backend.status(n);
    assert.deepEqual(after, before);
    await backend.uninstall(n);
  });

  test("arguments with spaces, quotes, $ and backslashes arrive unchanged", async ({ backend, runner, scratchDir }) => {
    const n = name("args");
    const out = `${scratchDir}/${n}.args`;
    const hostile = [
      "two words",
      `it's "quoted"`,
      "$HOME and ${PATH}",
      "back\\slash",
      "100%",
      "semi;colon",
      "",
    ];
    const script =
      `for a in "$@"; do printf '[%s]\\n' "$a"; done > "$0.tmp" && mv "$0.tmp" "$0"; exec sleep 300`;
    await backend.start(
      defineService(n).binary("/bin/sh").args(["-c", script, out, ...hostile]).build(),
    );
    let text = "";
    await until("argument file", async () => {
      const r = await runner.run("cat", [out]);
      text = r.stdout;
      return r.code === 0;
    });
    assert.equal(text, hostile.map((a) => `[${a}]\n`).join(""));
    await backend.uninstall(n);
    await runner.run("rm", ["-f", out]);
  });

  test("environment variables reach the service", async ({ backend }) => {
    const n = name("env");
    const def = defineService(n).binary("/bin/sh").args([
      "-c",
      'echo "value=$PROVCTL_TEST_VALUE"; exec sleep 300',
    ])
      .env("PROVCTL_TEST_VALUE", "a b $c").build();
    await backend.start(def);
    await until(
      "env log line",
      async () => (await collectLogs(backend, n, 20)).includes("value=a b $c"),
    );
    await backend.uninstall(n);
  });

  test("a service that exits at once is reported, with its exit code", async ({ backend }) => {
    const n = name("fails");
    const def = defineService(n).binary("/bin/sh").args(["-c", "echo about-to-fail >&2; exit 7"])
      .build();
    let error: unknown;
    try {
      await backend.start(def);
    } catch (e) {
      error = e;
    }
    // A backend either refuses the start (pidfile: grace period) or reports the failure in status.
    if (error !== undefined) {
      assert.ok(isProvctlError(error), String(error));
      assert.equal(error.kind, "StartFailed");
    }
    await until("failed status", async () => (await backend.status(n)).state !== "running");
    const status = await backend.status(n);
    assert.ok(
      (status.state === "exited" && status.code === 7) ||
        (status.state === "failed" && status.code === 7),
      `unexpected status ${JSON.stringify(status)}`,
    );
    await until(
      "log says why",
      async () => (await collectLogs(backend, n, 20)).includes("about-to-fail"),
    );
    await backend.uninstall(n);
  });

  test("stop of a service never started is NotFound", async ({ backend }) => {
    await expectError("NotFound", () => backend.stop(name("never")));
  });

  test("status of a service never started is not running", async ({ backend }) => {
    const status = await backend.status(name("unknown"));
    assert.equal(status.state, "not-running");
  });

  test("a service that ignores the stop signal is killed", async ({ backend }) => {
    const n = name("stubborn");
    const def = defineService(n).binary("/bin/sh").args([
      "-c",
      "trap '' TERM; while :; do sleep 1; done",
    ])
      .stopTimeoutMs(500).build();
    await backend.start(def);
    const stopped = await backend.stop(n);
    assert.equal(stopped.changed, true);
    assert.notEqual((await backend.status(n)).state, "running");
    await backend.uninstall(n);
  });

  test("a service with children: stop ends them all", async ({ backend, runner }) => {
    const n = name("children");
    // The shell stays (it waits for sleep, then runs `true`), so sleep is its child.
    await backend.start(
      defineService(n).binary("/bin/sh").args(["-c", "sleep 1001; true"]).stopTimeoutMs(5000)
        .build(),
    );
    const status = await backend.status(n);
    assert.ok(status.state === "running", JSON.stringify(status));
    let child = 0;
    await until("the service's child sleep 1001", async () => {
      const r = await runner.run("pgrep", ["-P", String(status.pid), "-x", "sleep"]);
      child = Number(r.stdout.trim().split("\n")[0]);
      return r.code === 0 && child > 0;
    });
    assert.match(await commandLineOf(runner, child), /^sleep 1001/);
    const stopped = await backend.stop(n);
    assert.equal(stopped.changed, true);
    // Not killed by escalation: the stop signal reached every process of the service.
    assert.equal(stopped.killed ?? false, false);
    // stop returns once the group is gone: the child must not survive it.
    assert.equal(await isLive(runner, child), false, `sleep 1001 (pid ${child}) survived stop`);
    await backend.uninstall(n);
  });

  test(
    options.boot
      ? "enable and disable: start at boot or not; the service keeps running"
      : "declares that it has no boot support",
    async ({ backend }) => {
      assert.equal(backend.boot !== undefined, options.boot);
      const boot = backend.boot;
      if (boot === undefined) return;
      const n = name("boot");
      await expectError("NotFound", () => boot.enable(name("boot-unknown")));
      await backend.start(
        defineService(n).binary("/bin/sh").args(["-c", "exec sleep 300"]).build(),
      );
      assert.equal(await boot.isEnabled(n), false, "start alone does not enable");
      assert.equal((await boot.enable(n)).changed, true);
      assert.equal(await boot.isEnabled(n), true);
      assert.equal((await boot.enable(n)).changed, false);
      assert.equal((await boot.disable(n)).changed, true);
      assert.equal(await boot.isEnabled(n), false);
      assert.equal((await boot.disable(n)).changed, false);
      assert.equal((await backend.status(n)).state, "running", "disable does not stop it");
      await boot.enable(n);
      await backend.uninstall(n);
      assert.ok(!(await backend.list()).includes(n));
    },
  );

  test("list shows started services; uninstall removes them", async ({ backend }) => {
    const n = name("listed");
    await backend.start(defineService(n).binary("/bin/sh").args(["-c", "exec sleep 300"]).build());
    assert.ok((await backend.list()).includes(n));
    await backend.uninstall(n);
    assert.ok(!(await backend.list()).includes(n));
    assert.equal((await backend.status(n)).state, "not-running");
  });

  // One test per backend: its fixture is set up once, every case is a step, and the
  // teardown runs whatever happened (no separate test that must run last).
  Deno.test({
    name: `${options.name} conformance`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const fixture = await options.setup();
      try {
        for (const c of cases) await t.step(c.title, () => c.fn(fixture));
      } finally {
        for (const n of used) await fixture.backend.uninstall(n).catch(() => {});
        await fixture.teardown();
      }
    },
  });
}
