/**
 * LaunchdBackend. macOS cannot run here, so the launchctl call sequences are checked
 * with the recording stand-in tests/backends/fixtures/launchd/launchctl (its `print`
 * answers are launchctl print output in the macOS format, kept as fixtures), while plist
 * files, log tails and directories are real files written through a LocalRunner. On
 * macOS the shared conformance suite runs against the real launchd.
 */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { LaunchdBackend, type LaunchdBackendOptions } from "../../src/backends/launchd.ts";
import { parsePrint, statusFromPrint } from "../../src/backends/_launchd_print.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";
import { probeHost } from "../../src/exec/host_fs.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { runBackendConformance } from "./conformance.ts";

const FIXTURES = new URL("./fixtures/launchd/", import.meta.url).pathname;

interface Rig {
  dir: string;
  state: string;
  home: string;
  backend: (extra?: Partial<LaunchdBackendOptions>) => LaunchdBackend;
  calls: () => Promise<string[][]>;
  resetCalls: () => Promise<void>;
  cleanup: () => Promise<void>;
}

async function rig(uid = 501): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "provctl-launchd-" });
  const state = `${dir}/state`;
  const home = `${dir}/home`;
  const launchctl = `${dir}/launchctl`;
  await Deno.writeTextFile(
    launchctl,
    `#!/bin/sh\nLAUNCHCTL_STATE='${state}' LAUNCHCTL_FIXTURES='${FIXTURES}' exec /bin/sh '${FIXTURES}launchctl' "$@"\n`,
    { mode: 0o755 },
  );
  const host = { os: "Darwin", home, tmp: "/tmp", uid, user: "tester" };
  const runner = new LocalRunner();
  return {
    dir,
    state,
    home,
    backend: (extra = {}) =>
      new LaunchdBackend({
        runner,
        host,
        launchctl,
        startGraceMs: 50,
        commandTimeoutMs: 10_000,
        ...(uid === 0
          ? {
            plistDir: `${dir}/LaunchDaemons`,
            logFile: (n: ServiceName) => `${dir}/logs/${n}.log`,
          }
          : {}),
        ...extra,
      }),
    calls: async () => {
      try {
        return (await Deno.readTextFile(`${state}/calls.log`)).trimEnd().split("\n").map((l) =>
          l.split("\t")
        );
      } catch {
        return [];
      }
    },
    resetCalls: () => Deno.remove(`${state}/calls.log`).catch(() => {}),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

const expectError = expectProvctlError;

const api = parseServiceName("api");
const apiDef = () => defineService(api).binary("/bin/sh").args(["-c", "exec sleep 300"]).build();
const PLIST = (r: Rig) => `${r.home}/Library/LaunchAgents/local.provctl.api.plist`;

Deno.test("start: plist written atomically, bootstrap in gui/UID, status from print", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    const started = await backend.start(apiDef());
    assert.equal(started.status.state, "running");
    assert.deepEqual(await r.calls(), [
      ["print", "gui/501"],
      ["print", "gui/501/local.provctl.api"],
      ["bootstrap", "gui/501", PLIST(r)],
      // Not enabled for boot: RunAtLoad is off, so kickstart runs it.
      ["kickstart", "gui/501/local.provctl.api"],
      ["print", "gui/501/local.provctl.api"],
    ]);
    const plist = await Deno.readTextFile(PLIST(r));
    assert.match(plist, /<!-- Managed by provctl/);
    assert.match(plist, new RegExp(`<string>${r.home}/Library/Logs/provctl/api.log</string>`));
    assert.ok(
      (await Deno.stat(`${r.home}/Library/Logs/provctl`)).isDirectory,
      "log directory exists for launchd",
    );
    const status = await backend.status(api);
    assert.equal(status.state, "running");
    if (status.state === "running") assert.ok(status.pid > 0);
    await expectError("AlreadyRunning", () => backend.start(apiDef()));
  } finally {
    await r.cleanup();
  }
});

Deno.test("restart uses kickstart -k; stop boots out; uninstall removes the plist", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    const first = (await backend.start(apiDef())).status;
    await r.resetCalls();
    const again = await backend.restart(api);
    assert.equal(again.status.state, "running");
    if (first.state === "running" && again.status.state === "running") {
      assert.notEqual(first.pid, again.status.pid);
    }
    assert.deepEqual(
      (await r.calls()).map((c) => c.slice(0, 3)),
      [
        ["print", "gui/501"],
        ["print", "gui/501/local.provctl.api"],
        ["kickstart", "-k", "gui/501/local.provctl.api"],
        ["print", "gui/501/local.provctl.api"],
      ].slice(1),
    );
    assert.deepEqual(await backend.stop(api), { changed: true });
    assert.deepEqual((await r.calls()).at(-1), ["bootout", "gui/501/local.provctl.api"]);
    assert.deepEqual(await backend.stop(api), { changed: false });
    assert.equal((await backend.status(api)).state, "not-running");
    // A changed definition on restart is re-bootstrapped so launchd reads the new plist.
    await backend.restart(api, defineService(api).binary("/bin/sleep").args(["301"]).build());
    assert.match(await Deno.readTextFile(PLIST(r)), /<string>301<\/string>/);
    assert.deepEqual(await backend.list(), [api]);
    await backend.uninstall(api);
    await assert.rejects(Deno.stat(PLIST(r)));
    assert.deepEqual(await backend.list(), []);
    assert.equal((await backend.status(api)).state, "not-running");
    await expectError("NotFound", () => backend.stop(api));
  } finally {
    await r.cleanup();
  }
});

Deno.test("a job that exits at start: StartFailed with the log, status failed with the code", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    await Deno.mkdir(`${r.home}/Library/Logs/provctl`, { recursive: true });
    await Deno.writeTextFile(
      `${r.home}/Library/Logs/provctl/api.log`,
      "listening...\nerror: port 80 needs root\n",
    );
    await Deno.mkdir(r.state, { recursive: true });
    await Deno.writeTextFile(`${r.state}/next-exit`, "78: EX_CONFIG");
    const error = await expectError("StartFailed", () => backend.start(apiDef()));
    assert.match(String(error.params.lines), /port 80 needs root/);
    assert.deepEqual(await backend.status(api), { state: "failed", reason: "exit-code", code: 78 });
    const chunks: Uint8Array[] = [];
    await backend.logs(api, { lines: 1 }, (c) => chunks.push(c));
    assert.equal(new TextDecoder().decode(chunks[0]), "error: port 80 needs root\n");
  } finally {
    await r.cleanup();
  }
});

Deno.test("launchctl's opaque failures become clear errors", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    await Deno.mkdir(r.state, { recursive: true });
    // Error 5 with a valid plist and nothing loaded: the domain refused it.
    await Deno.writeTextFile(
      `${r.state}/fail-bootstrap`,
      "5\nBootstrap failed: 5: Input/output error\n",
    );
    const denied = await expectError("PermissionDenied", () => backend.start(apiDef()));
    assert.equal(denied.key, "launchd.domain_denied");
    assert.equal(denied.hint, "launchd.hint_domain");
    await Deno.writeTextFile(
      `${r.state}/fail-bootstrap`,
      "125\nBootstrap failed: 125: Domain does not support specified action\n",
    );
    await expectError("PermissionDenied", () => backend.start(apiDef()));
    await Deno.writeTextFile(
      `${r.state}/fail-bootstrap`,
      "17\nBootstrap failed: 17: File exists\n",
    );
    const loaded = await expectError("Conflict", () => backend.start(apiDef()));
    assert.equal(loaded.key, "launchd.already_loaded");
    await Deno.writeTextFile(
      `${r.state}/fail-bootstrap`,
      "37\nBootstrap failed: 37: Operation already in progress\n",
    );
    await expectError("CommandFailed", () => backend.start(apiDef()));
  } finally {
    await r.cleanup();
  }
});

Deno.test("domains: user/UID without a console session, system for root", async () => {
  const r = await rig();
  try {
    await Deno.mkdir(r.state, { recursive: true });
    await Deno.writeTextFile(`${r.state}/no-gui`, "");
    assert.equal(await r.backend().domain(), "user/501");
    assert.equal(await r.backend({ domain: "gui" }).domain(), "gui/501");
  } finally {
    await r.cleanup();
  }
  const root = await rig(0);
  try {
    const backend = root.backend();
    assert.equal(await backend.domain(), "system");
    await backend.start(defineService(api).binary("/bin/sleep").args(["300"]).user("_www").build());
    assert.deepEqual((await root.calls()).find((c) => c[0] === "bootstrap"), [
      "bootstrap",
      "system",
      `${root.dir}/LaunchDaemons/local.provctl.api.plist`,
    ]);
    assert.equal(
      (await root.calls()).some((c) => c[1] === "gui/0"),
      false,
      "root never asks for a gui domain",
    );
  } finally {
    await root.cleanup();
  }
});

Deno.test("a plist provctl did not write is controlled but never overwritten or removed without force", async () => {
  const r = await rig();
  try {
    const foreign = `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>Label</key><string>local.provctl.api</string>
<key>ProgramArguments</key><array><string>/bin/sleep</string><string>9</string></array></dict></plist>
`;
    await Deno.mkdir(`${r.home}/Library/LaunchAgents`, { recursive: true });
    await Deno.writeTextFile(PLIST(r), foreign);
    const backend = r.backend();
    assert.equal(
      (await backend.restart(api)).status.state,
      "running",
      "controlled: bootstrapped as it is",
    );
    await backend.stop(api);
    await expectError("Conflict", () => backend.start(apiDef()));
    await expectError("Conflict", () => backend.uninstall(api));
    assert.equal(await Deno.readTextFile(PLIST(r)), foreign);
    assert.deepEqual(await backend.list(), []);
    await r.backend({ force: true }).uninstall(api);
    await assert.rejects(Deno.stat(PLIST(r)));
  } finally {
    await r.cleanup();
  }
});

Deno.test("bad names and bad values are refused before launchctl runs or a file is written", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    for (const bad of ["../x", "a b", ""]) {
      const def = { ...apiDef(), name: bad as ServiceName };
      await expectError("InvalidName", () => backend.start(def));
    }
    await expectError(
      "InvalidArgument",
      () => backend.start(defineService(api).binary("/bin/sh").arg("\0").build()),
    );
    assert.equal((await r.calls()).some((c) => c[0] === "bootstrap"), false);
    await assert.rejects(Deno.stat(`${r.home}/Library/LaunchAgents`));
    assert.throws(
      () => r.backend({ labelPrefix: "no spaces allowed" }),
      (e: unknown) => isProvctlError(e, "InvalidConfig"),
    );
  } finally {
    await r.cleanup();
  }
});

Deno.test("logs -f follows the log file until aborted", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    await backend.start(apiDef());
    const log = `${r.home}/Library/Logs/provctl/api.log`;
    await Deno.writeTextFile(log, "first\n");
    const controller = new AbortController();
    let seen = "";
    const following = backend.logs(
      api,
      { lines: 10, follow: true, signal: controller.signal },
      (c) => {
        seen += new TextDecoder().decode(c);
        if (seen.includes("second")) controller.abort();
      },
    );
    await new Promise((res) => setTimeout(res, 300));
    await Deno.writeTextFile(log, "second\n", { append: true });
    await following;
    assert.match(seen, /first\nsecond/);
  } finally {
    await r.cleanup();
  }
});

Deno.test("launchctl print parsing: fixtures, top-level fields only, exit code forms", async () => {
  const fill = (text: string) =>
    text.replaceAll("@LABEL@", "local.provctl.api").replaceAll("@DOMAIN@", "gui/501").replaceAll(
      "@PID@",
      "4242",
    )
      .replaceAll("@RUNS@", "3").replaceAll("@EXIT@", "78: EX_CONFIG").replaceAll(
        "@PATH@",
        "/p.plist",
      )
      .replaceAll("@LOG@", "/l.log").replaceAll("@PROGRAM@", "/bin/sh");
  const running = parsePrint(fill(await Deno.readTextFile(`${FIXTURES}print_running.txt`)));
  assert.deepEqual(statusFromPrint(running), { state: "running", pid: 4242, since: undefined });
  assert.equal(running.lastExitCode, undefined, "(never exited) is no exit code");
  assert.equal(running.stdoutPath, "/l.log");
  const exited = parsePrint(fill(await Deno.readTextFile(`${FIXTURES}print_exited.txt`)));
  assert.deepEqual(statusFromPrint(exited), { state: "failed", reason: "exit-code", code: 78 });
  const signal = parsePrint(fill(await Deno.readTextFile(`${FIXTURES}print_signal.txt`)));
  assert.deepEqual(statusFromPrint(signal), {
    state: "failed",
    reason: "signal",
    signal: "SIGKILL",
  });
  const nested =
    'x = {\n\tstate = not running\n\tendpoints = {\n\t\t"com.x" = {\n\t\t\tstate = active\n\t\t}\n\t}\n' +
    "\tlast exit code = 0\n}\n";
  assert.deepEqual(statusFromPrint(parsePrint(nested)), {
    state: "not-running",
    note: "exited with code 0",
  });
});

Deno.test("enable/disable: RunAtLoad in the plist and launchctl enable/disable; start keeps it", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    assert.ok(backend.boot, "launchd declares boot support");
    await expectError("NotFound", () => backend.enable(api));
    await backend.start(apiDef());
    assert.equal(await backend.isEnabled(api), false);
    await r.resetCalls();
    assert.deepEqual(await backend.enable(api), { changed: true });
    assert.match(await Deno.readTextFile(PLIST(r)), /<key>RunAtLoad<\/key>\s*<true\/>/);
    assert.deepEqual((await r.calls()).filter((c) => c[0] !== "print"), [
      ["enable", "gui/501/local.provctl.api"],
    ]);
    assert.equal(await backend.isEnabled(api), true);
    assert.deepEqual(await backend.enable(api), { changed: false });
    // A start rewrites the plist from the definition but keeps the boot flag.
    await backend.stop(api);
    await r.resetCalls();
    await backend.start(apiDef());
    assert.equal(await backend.isEnabled(api), true);
    assert.ok(!(await r.calls()).some((c) => c[0] === "kickstart"), "RunAtLoad starts it");
    assert.deepEqual(await backend.disable(api), { changed: true });
    assert.equal(await backend.isEnabled(api), false);
    assert.deepEqual(await backend.disable(api), { changed: false });
    assert.equal((await backend.status(api)).state, "running", "disable does not stop it");
  } finally {
    await r.cleanup();
  }
});

Deno.test("a disabled job that is kept alive is held back at boot, yet provctl start runs it", async () => {
  const r = await rig();
  try {
    const backend = r.backend();
    const def = defineService(api).binary("/bin/sh").args(["-c", "exec sleep 300"])
      .restartPolicy("always").build();
    await backend.start(def);
    await backend.enable(api);
    await r.resetCalls();
    await backend.disable(api);
    // KeepAlive implies RunAtLoad: only the override database keeps it from boot.
    assert.deepEqual((await r.calls()).filter((c) => c[0] !== "print"), [
      ["disable", "gui/501/local.provctl.api"],
    ]);
    await backend.stop(api);
    await r.resetCalls();
    const started = await backend.start(def);
    assert.equal(started.status.state, "running");
    assert.deepEqual((await r.calls()).filter((c) => c[0] !== "print"), [
      ["enable", "gui/501/local.provctl.api"],
      ["bootstrap", "gui/501", PLIST(r)],
      ["kickstart", "gui/501/local.provctl.api"],
      ["disable", "gui/501/local.provctl.api"],
    ]);
  } finally {
    await r.cleanup();
  }
});

// On macOS: the shared suite against the real launchd (user agents in a scratch home would
// not be found by launchd, so it uses the real ~/Library/LaunchAgents with unique labels).
runBackendConformance({
  name: "launchd",
  boot: true,
  ignore: Deno.build.os === "darwin" ? false : `launchd needs macOS (this is ${Deno.build.os})`,
  setup: async () => {
    const runner = new LocalRunner();
    const host = await probeHost(runner);
    const scratchDir = await Deno.makeTempDir({ prefix: "provctl-launchd-conf-" });
    return {
      backend: new LaunchdBackend({
        runner,
        host,
        labelPrefix: "local.provctl.test",
        startGraceMs: 500,
      }),
      runner,
      scratchDir,
      teardown: () => Deno.remove(scratchDir, { recursive: true }),
    };
  },
});
