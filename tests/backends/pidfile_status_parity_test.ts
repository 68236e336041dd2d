/**
 * The PID-file backend's two `status` implementations give the same answers: status.sh
 * (over SSH, on macOS, wherever there is no /proc) and its in-process twin on this
 * machine (src/backends/_pidfile/local_status.ts). Each state is built once (files as the
 * supervisor writes them, damaged ones, real processes and real supervisors), then both
 * are asked, from the same files each time: the lines they print, the status the backend
 * makes of them and the files they leave behind (both remove corrupt and stale PID files)
 * must be the same. The script runs under dash (Debian's /bin/sh), bash and busybox sh.
 */
import assert from "node:assert/strict";
import { testPidfileBackend, testShells } from "../helpers/pidfile.ts";
import { waitFor } from "../helpers/cli.ts";
import { localStatus } from "../../src/backends/_pidfile/local_status.ts";
import type { PidfileBackend } from "../../src/backends/pidfile.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import type {
  CommandRunner,
  RunOptions,
  RunResult,
  StreamingProcess,
} from "../../src/exec/runner.ts";

/**
 * A runner on this machine that is not the LocalRunner, as an SSH runner is not: the
 * backend runs status.sh through it. It keeps the last script's output to compare.
 */
class ScriptRunner implements CommandRunner {
  readonly target = "local (script)";
  readonly remote = false;
  readonly #inner = new LocalRunner();
  lastStdout = "";
  async run(program: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    const result = await this.#inner.run(program, args, options);
    this.lastStdout = result.stdout;
    return result;
  }
  stream(program: string, args: readonly string[], options?: RunOptions): StreamingProcess {
    return this.#inner.stream(program, args, options);
  }
}

/** A process as /proc tells it: its state, process group and start time (field 22). */
function proc(pid: number): { state: string; pgid: string; start: string } | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(") ") + 2).trim().split(/\s+/);
    return { state: f[0], pgid: f[2], start: f[19] };
  } catch {
    return undefined;
  }
}

type Entry =
  | { kind: "file"; bytes: Uint8Array; mode: number }
  | { kind: "link"; target: string }
  | { kind: "dir" }
  | { kind: "fifo" };

/** What is at each path (undefined: nothing): to restore it, and to compare. */
function snapshot(paths: readonly string[]): (Entry | undefined)[] {
  return paths.map((path) => {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch {
      return undefined;
    }
    if (info.isSymlink) return { kind: "link", target: Deno.readLinkSync(path) };
    if (info.isDirectory) return { kind: "dir" };
    if (info.isFifo) return { kind: "fifo" };
    return { kind: "file", bytes: Deno.readFileSync(path), mode: info.mode! & 0o777 };
  });
}

function restore(paths: readonly string[], entries: readonly (Entry | undefined)[]): void {
  paths.forEach((path, i) => {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch { /* nothing there */ }
    const e = entries[i];
    if (e?.kind === "file") {
      Deno.writeFileSync(path, e.bytes, { mode: e.mode });
      Deno.chmodSync(path, e.mode);
    } else if (e?.kind === "link") Deno.symlinkSync(e.target, path);
    else if (e?.kind === "dir") Deno.mkdirSync(path);
    else if (e?.kind === "fifo") {
      assert.equal(new Deno.Command("mkfifo", { args: [path] }).outputSync().code, 0);
    }
  });
}

/** Lines of a PID, exit or state file, as the supervisor writes them. */
const lines = (pairs: Record<string, string | number>) =>
  Object.entries(pairs).map(([k, v]) => `${k}=${v}\n`).join("");

/** What to put at a file's place: text (UTF-8), raw bytes, or another kind of entry. */
type Content = string | Uint8Array | Entry;

/** One state: what each file is (absent: none). */
interface Case {
  readonly name: string;
  readonly pid?: Content;
  readonly exit?: Content;
  readonly state?: Content;
}

Deno.test({
  name: "pidfile status: status.sh and the in-process status agree on every state",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "provctl-parity-" });
    const children: Deno.ChildProcess[] = [];
    const spawn = (program: string, args: string[]) => {
      const child = new Deno.Command(program, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      })
        .spawn();
      children.push(child);
      return child;
    };
    /** A live process leading its own process group (as a service or a supervisor does). */
    const leader = async (program = "sleep") => {
      const child = spawn("setsid", [program, "600"]);
      let p = proc(child.pid);
      await waitFor("setsid", () => (p = proc(child.pid))?.pgid === String(child.pid));
      return { pid: String(child.pid), pgid: p!.pgid, start: p!.start };
    };
    const realBackends: { backend: PidfileBackend; name: ServiceName }[] = [];
    try {
      await Deno.mkdir(`${dir}/run`, { mode: 0o700 });
      await Deno.mkdir(`${dir}/bin`, { mode: 0o700 });
      const svc = await leader();
      const sup = await leader();
      // A command name (field 2 of /proc/PID/stat) with ") (" and a newline in it.
      const odd = `${dir}/bin/a) (b\nc`;
      await Deno.symlink(
        Deno.statSync("/usr/bin/sleep").isFile ? "/usr/bin/sleep" : "/bin/sleep",
        odd,
      );
      const oddProc = await leader(odd);
      // A zombie: a child whose parent (sleep, after the exec) never reaps it.
      spawn("sh", ["-c", `sleep 0 & echo $! > "$0"; exec sleep 600`, `${dir}/zombie`]);
      let zombie = "";
      await waitFor("zombie", async () => {
        zombie = (await Deno.readTextFile(`${dir}/zombie`).catch(() => "")).trim();
        return zombie !== "" && proc(Number(zombie))?.state === "Z";
      });
      const z = proc(Number(zombie))!;
      // A PID that was a process and is none now.
      const gone = new Deno.Command("true").spawn();
      await gone.status;
      const dead = String(gone.pid);

      const pidOf = (p: { pid: string; pgid: string; start: string }, extra = {}) =>
        lines({ pid: p.pid, pgid: p.pgid, start: p.start, started: 1700000000, ...extra });
      const supOf = (phase: string, extra: Record<string, string | number> = {}) =>
        lines({
          sup: sup.pid,
          sup_start: sup.start,
          phase,
          restarts: 2,
          last_exit: 1,
          last_restart_at: 1700000100,
          next_restart_at: 1700000200,
          reason: "",
          ...extra,
        });
      const deadPid = pidOf({ pid: dead, pgid: dead, start: "12345" });
      const exitOf = (code: string, pid = dead) => lines({ pid, code, at: 1700000300 });

      const cases: Case[] = [
        { name: "none" },
        { name: "none-dangling-link", pid: { kind: "link", target: `${dir}/nowhere` } },
        { name: "running", pid: pidOf(svc) },
        { name: "running-odd-command-name", pid: pidOf(oddProc) },
        { name: "running-supervised", pid: pidOf(svc), state: supOf("running") },
        {
          name: "running-supervisor-gone",
          pid: pidOf(svc),
          state: supOf("running", { sup: dead }),
        },
        { name: "running-supervision-done", pid: pidOf(svc), state: supOf("done") },
        { name: "running-sup-not-a-pid", pid: pidOf(svc), state: supOf("backoff", { sup: "1x" }) },
        {
          name: "running-read-rules",
          // "a=b=" is b, "a=b==" is b==; NULs dropped; the last key wins; unknown keys
          // and lines without "=" ignored; no newline at the end.
          pid: `junk\n\ufeffpid=1\nx=y\npid=${svc.pid}=\npgid=${svc.pgid}\0\nstart=7\n` +
            `start=${svc.start}\nstarted=17 x=y`,
          state:
            `phase=running\nrestarts=\nreason=a\\c b\\n\nsup=${sup.pid}\nsup_start=${sup.start}` +
            `\nlast_exit=1==\nlast_restart_at=17\r\n`,
        },
        { name: "exited", pid: deadPid, exit: exitOf("3"), state: supOf("done") },
        { name: "exited-unsupervised", pid: deadPid, exit: exitOf("0") },
        { name: "terminated", pid: deadPid, exit: exitOf("137") },
        { name: "exited-128", pid: deadPid, exit: exitOf("128") },
        { name: "terminated-129", pid: deadPid, exit: exitOf("129") },
        { name: "terminated-255", pid: deadPid, exit: exitOf("255") },
        { name: "unknown-no-code", pid: deadPid, exit: exitOf("") },
        ...["0208", "256", "12a", "-5", " 3", "99999999999999999999"].map((code, i) => ({
          name: `unknown-code-${i}`,
          pid: deadPid,
          exit: exitOf(code),
        })),
        {
          name: "failed",
          pid: deadPid,
          exit: exitOf("1"),
          state: supOf("failed", { sup: dead, reason: "restart_limit" }),
        },
        {
          name: "backoff",
          pid: deadPid,
          exit: exitOf("1"),
          state: supOf("backoff"),
        },
        {
          name: "backoff-supervisor-gone",
          pid: deadPid,
          exit: exitOf("1"),
          state: supOf("backoff", { sup_start: "1" }),
        },
        { name: "unknown-supervisor-about-to-record", pid: deadPid, state: supOf("running") },
        { name: "stale-dead", pid: deadPid },
        { name: "stale-dead-other-exit", pid: deadPid, exit: exitOf("3", "1") },
        { name: "stale-dead-exit-link", pid: deadPid, exit: { kind: "link", target: "x" } },
        {
          name: "stale-dead-supervisor-gone",
          pid: deadPid,
          state: supOf("running", { sup: dead }),
        },
        { name: "stale-reused", pid: pidOf({ ...svc, start: "1" }) },
        { name: "stale-reused-other-group", pid: pidOf({ ...svc, pgid: "1" }) },
        { name: "stale-reused-zombie", pid: pidOf({ pid: zombie, ...z }) },
        { name: "corrupt-empty", pid: "" },
        { name: "corrupt-not-a-pid", pid: pidOf({ ...svc, pid: "abc" }) },
        { name: "corrupt-signed-pid", pid: pidOf({ ...svc, pid: `+${svc.pid}` }) },
        { name: "corrupt-blank-after-pid", pid: pidOf({ ...svc, pid: `${svc.pid} ` }) },
        { name: "corrupt-crlf", pid: pidOf(svc).replaceAll("\n", "\r\n") },
        // A byte-order mark is part of the first key to a shell.
        { name: "corrupt-bom", pid: `\ufeff${pidOf(svc)}` },
        { name: "corrupt-no-start", pid: lines({ pid: svc.pid, pgid: svc.pgid }) },
        { name: "corrupt-no-pgid", pid: lines({ pid: svc.pid, start: svc.start }) },
        // Bytes dash keeps for itself (0x81-0x8a), invalid UTF-8, a NUL.
        {
          name: "corrupt-binary",
          pid: Uint8Array.from([0x81, 0x82, 0x88, 0xff, 0xfe, 0x3d, 0, 0x89, 0x0a, 0xc3]),
        },
        {
          name: "running-binary-values",
          pid: new Uint8Array([
            ...new TextEncoder().encode(pidOf(svc, { started: "" })),
            ...new TextEncoder().encode("started=1\xe9"),
            // (Not right before the newline: bash's read, in a UTF-8 locale, then takes
            // the newline into the broken character and joins the two lines.)
            0xe9,
            0x81,
            0x78,
            0x0a,
          ]),
          state: new Uint8Array([
            ...new TextEncoder().encode(supOf("running", { reason: "" })),
            ...new TextEncoder().encode("reason="),
            0x81,
            0x82,
            0x83,
            0x84,
            0x85,
            0x86,
            0x87,
            0x88,
            0x89,
            0x8a,
            0xe2,
            0x82,
          ]),
        },
        { name: "corrupt-link", pid: { kind: "link", target: "running.pid" } },
        { name: "corrupt-directory", pid: { kind: "dir" } },
        { name: "corrupt-fifo", pid: { kind: "fifo" } },
        // Unreadable, but not to root.
        {
          name: "mode-0",
          pid: { kind: "file", bytes: new TextEncoder().encode(pidOf(svc)), mode: 0 },
        },
      ];

      // Real supervisors (the scripts under dash) in the states a status can meet them in.
      const startBackend = testPidfileBackend(new ScriptRunner(), dir, {
        shell: testShells().find((s) => s.name === "dash")?.path ?? "/bin/sh",
      });
      const real = async (
        name: string,
        script: string,
        backoff: { delayMs: number; max: number },
        until: string,
      ) => {
        const n = parseServiceName(name);
        realBackends.push({ backend: startBackend, name: n });
        await startBackend.start(
          defineService(n).binary("/bin/sh").args(["-c", script, `${dir}/${name}.runs`])
            .restartPolicy("on-failure")
            .restartBackoff({ ...backoff, maxDelayMs: backoff.delayMs, windowMs: 600_000 })
            .build(),
        );
        await waitFor(name, () => localStatus(filesOf(name)).includes(until));
      };
      const filesOf = (name: string) => ({
        pidFile: `${dir}/run/${name}.pid`,
        exitFile: `${dir}/run/${name}.pid.exit`,
        stateFile: `${dir}/run/${name}.pid.state`,
      });
      // Failed once, restarted, running.
      await real(
        "real-restarted",
        `[ -e "$0" ] && exec sleep 600; : > "$0"; exit 3`,
        { delayMs: 100, max: 5 },
        "restarts=1 ",
      );
      // Waiting ten minutes to restart.
      await real("real-backoff", "exit 2", { delayMs: 600_000, max: 5 }, "phase=backoff");
      // The restart limit reached.
      await real("real-failed", "exit 1", { delayMs: 50, max: 1 }, "state=failed");
      // Its supervisor killed while the service runs.
      await real("real-gone", "exec sleep 600", { delayMs: 100, max: 5 }, "state=running");
      const killed = /sup=(\d+)/.exec(await Deno.readTextFile(filesOf("real-gone").stateFile))!;
      Deno.kill(Number(killed[1]), "SIGKILL");
      await waitFor(
        "supervisor gone",
        () => localStatus(filesOf("real-gone")).includes("supervisor=gone"),
      );

      for (const c of cases) {
        const f = filesOf(c.name);
        const put = (path: string, what: Content | undefined) => {
          if (what === undefined) return;
          const bytes = typeof what === "string" ? new TextEncoder().encode(what) : what;
          restore([path], [
            bytes instanceof Uint8Array ? { kind: "file", bytes, mode: 0o600 } : bytes,
          ]);
        };
        put(f.pidFile, c.pid);
        put(f.exitFile, c.exit);
        put(f.stateFile, c.state);
      }
      const all = [
        ...cases.map((c) => c.name),
        "real-restarted",
        "real-backoff",
        "real-failed",
        "real-gone",
      ];

      const seen = new Set<string>();
      for (const shell of testShells()) {
        await t.step({
          name: `status.sh under ${shell.name}`,
          ignore: Boolean(shell.missing),
          fn: async () => {
            const runner = new ScriptRunner();
            const scriptBackend = testPidfileBackend(runner, dir, { shell: shell.path });
            const localBackend = testPidfileBackend(new LocalRunner(), dir);
            for (const name of all) {
              const f = filesOf(name);
              const paths = [f.pidFile, f.exitFile, f.stateFile];
              const before = snapshot(paths);
              const n = parseServiceName(name);

              const scriptStatus = await scriptBackend.status(n);
              const script = { text: runner.lastStdout, files: snapshot(paths) };
              restore(paths, before);
              const local = { text: localStatus(f), files: snapshot(paths) };
              restore(paths, before);
              const localStatus_ = await localBackend.status(n);
              const localFiles = snapshot(paths);
              restore(paths, before);

              assert.deepEqual(local, script, `${name} under ${shell.name}`);
              assert.deepEqual(localStatus_, scriptStatus, `${name}: backend status`);
              assert.deepEqual(localFiles, script.files, `${name}: files after the backend`);
              // What was met: each state, each stale reason, each supervisor verdict.
              for (const token of script.text.split(/\s+/)) {
                if (/^(state|supervisor)=/.test(token)) seen.add(token);
              }
              const stale = /^state=stale reason=(\w+)/.exec(script.text);
              if (stale) seen.add(`stale:${stale[1]}`);
            }
          },
        });
      }
      // Every state the script can print was met (the cases did build what they say).
      assert.deepEqual(
        [...seen].sort(),
        [
          "stale:dead",
          "stale:reused",
          "supervisor=done",
          "supervisor=gone",
          "supervisor=running",
          "state=corrupt",
          "state=exited",
          "state=failed",
          "state=none",
          "state=running",
          "state=stale",
          "state=terminated",
          "state=unknown",
        ].sort(),
      );
    } finally {
      for (const { backend, name } of realBackends) await backend.stop(name).catch(() => {});
      for (const child of children) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
