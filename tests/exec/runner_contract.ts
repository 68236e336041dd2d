/**
 * The CommandRunner contract: every runner (local, SSH, the connection keeper) must
 * behave the same for the same program. A runner's test file only calls
 * runRunnerContract with a setup; cases a runner cannot honour are skipped by name with
 * the reason, in that file, where a reader sees them.
 */
import assert from "node:assert/strict";
import { canRunShell, type CommandRunner } from "../../src/exec/runner.ts";

export interface RunnerFixture {
  readonly runner: CommandRunner;
  /** A writable directory on the runner's machine (its name has a blank and a quote). */
  readonly scratchDir: string;
  teardown(): Promise<void>;
}

export interface RunnerContractOptions {
  readonly name: string;
  readonly ignore?: string | false;
  readonly setup: () => Promise<RunnerFixture>;
  /** Case titles to skip, each with why. */
  readonly skip?: Readonly<Record<string, string>>;
}

const decoder = new TextDecoder();

/** The exit of a stream, without fields that are absent or undefined. */
async function exitOf(done: Promise<{ code: number; signal?: string; timedOut?: boolean }>) {
  const exit = await done;
  return {
    code: exit.code,
    ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
    ...(exit.timedOut ? { timedOut: true } : {}),
  };
}

/** Arguments a shell would mangle; each must reach the program exactly. */
export const HOSTILE_ARGS = [
  "plain",
  "",
  " leading and trailing ",
  "a'b",
  'a"b',
  "$(touch /tmp/provctl-contract-pwned)",
  "`touch /tmp/provctl-contract-pwned`",
  "; touch /tmp/provctl-contract-pwned",
  "| cat",
  "&& true",
  "*",
  "~",
  "$HOME",
  "back\\slash",
  "-n",
  "--",
  "tab\there",
  "new\nline",
  "é ünï 😀",
  "!event",
  "#comment",
];

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) throw new Error(`process ${pid} still alive after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function runRunnerContract(options: RunnerContractOptions): void {
  Deno.test({
    name: `${options.name} runner contract`,
    ignore: Boolean(options.ignore),
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const fixture = await options.setup();
      const { runner, scratchDir } = fixture;
      const step = (title: string, fn: () => Promise<void>) => {
        const why = options.skip?.[title];
        return t.step({ name: why ? `${title} (skipped: ${why})` : title, ignore: !!why, fn });
      };
      try {
        await step("exit codes are passed through", async () => {
          for (const code of [0, 1, 7, 255]) {
            const r = await runner.run("sh", ["-c", `exit ${code}`]);
            assert.deepEqual([r.code, r.signal, r.timedOut], [code, undefined, false]);
          }
          const missing = await runner.run("sh", ["-c", "exec /nonexistent/program"]);
          assert.equal(missing.code, 127);
        });

        await step("death by signal N is 128+N with the signal's name", async () => {
          for (const [signal, n] of [["TERM", 15], ["KILL", 9], ["INT", 2]] as const) {
            const r = await runner.run("sh", ["-c", `kill -${signal} $$`]);
            assert.deepEqual([r.code, r.signal, r.timedOut], [128 + n, `SIG${signal}`, false]);
          }
        });

        await step("stdout and stderr are kept apart", async () => {
          const r = await runner.run("sh", ["-c", "printf out1; printf err1 >&2; printf out2"]);
          assert.deepEqual([r.stdout, r.stderr], ["out1out2", "err1"]);
        });

        await step("stdin is passed and closed; without it the program reads EOF", async () => {
          const text = await runner.run("cat", [], { stdin: "line 1\nline 2 é\n" });
          assert.equal(text.stdout, "line 1\nline 2 é\n");
          const bytes = new Uint8Array(70_000).map((_, i) => 32 + (i % 90));
          const big = await runner.run("wc", ["-c"], { stdin: bytes });
          assert.equal(big.stdout.trim(), "70000");
          const none = await runner.run("cat", [], { timeoutMs: 5000 });
          assert.deepEqual([none.code, none.stdout, none.timedOut], [0, "", false]);
        });

        await step("env values arrive exactly", async () => {
          const value = `a b'c"d $HOME \`x\` \\ \n end`;
          const r = await runner.run("sh", ["-c", 'printf %s "$PROVCTL_T1"'], {
            env: { PROVCTL_T1: value },
          });
          assert.equal(r.stdout, value);
        });

        await step("every argument reaches the program exactly", async () => {
          await Deno.remove("/tmp/provctl-contract-pwned").catch(() => {});
          const r = await runner.run("printf", ["%s\\0", ...HOSTILE_ARGS]);
          assert.equal(r.code, 0, r.stderr);
          assert.deepEqual(r.stdout.split("\0").slice(0, -1), HOSTILE_ARGS);
          await assert.rejects(Deno.stat("/tmp/provctl-contract-pwned"), Deno.errors.NotFound);
          // And the program name itself may contain blanks and quotes.
          const odd = `${scratchDir}/my prog's`;
          await Deno.writeTextFile(odd, "#!/bin/sh\nprintf '%s|' \"$@\"\n", { mode: 0o755 });
          const ran = await runner.run(odd, ["x y", "z"]);
          assert.equal(ran.stdout, "x y|z|");
        });

        await step("cwd is used, whatever its name", async () => {
          const r = await runner.run("pwd", [], { cwd: scratchDir });
          assert.equal(r.stdout.trim(), scratchDir);
        });

        await step("a timeout kills the program: timedOut, 137, the process gone", async () => {
          const pidFile = `${scratchDir}/timeout.pid`;
          const started = Date.now();
          const r = await runner.run("sh", ["-c", 'echo $$ > "$1"; exec sleep 30', "sh", pidFile], {
            timeoutMs: 500,
          });
          assert.deepEqual([r.code, r.signal, r.timedOut], [137, "SIGKILL", true]);
          assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
          await waitGone(Number((await Deno.readTextFile(pidFile)).trim()));
        });

        await step(
          "what the program leaves running in the background survives its end",
          async () => {
            // A daemon started by a command (pidfile start) shares its process group: ending
            // the finished command's request must not kill that group.
            for (const mode of ["run", "stream"] as const) {
              const script = "sleep 300 >/dev/null 2>&1 </dev/null & echo $!";
              let out: string;
              if (mode === "run") {
                out = (await runner.run("sh", ["-c", script])).stdout;
              } else {
                const proc = runner.stream("sh", ["-c", script]);
                out = await readAll(proc.stdout);
                await readAll(proc.stderr);
                await proc.done;
                proc.kill(); // after the end: must not reach the group
              }
              const pid = Number(out.trim());
              await new Promise((r) => setTimeout(r, 500));
              assert.ok(alive(pid), `${mode}: the background process was killed`);
              Deno.kill(pid, "SIGKILL");
            }
          },
        );

        await step("an abort signal kills the program", async () => {
          const abort = new AbortController();
          const pidFile = `${scratchDir}/abort.pid`;
          const running = runner.run("sh", ["-c", 'echo $$ > "$1"; exec sleep 30', "sh", pidFile], {
            signal: abort.signal,
          });
          const end = Date.now() + 5000;
          while ((await Deno.readTextFile(pidFile).catch(() => "")) === "") {
            if (Date.now() > end) throw new Error("the program did not start");
            await new Promise((r) => setTimeout(r, 20));
          }
          abort.abort();
          const r = await running;
          assert.notEqual(r.code, 0);
          assert.equal(r.timedOut, false);
          await waitGone(Number((await Deno.readTextFile(pidFile)).trim()));
        });

        await step("an already aborted signal: nothing runs (run and stream)", async () => {
          // A caller that gave up before the call (a client gone before its request ran)
          // must not leave the program running: the abort event fired before the runner
          // could listen for it.
          const abort = new AbortController();
          abort.abort();
          const marker = `${scratchDir}/pre-aborted`;
          const script = 'sleep 0.5; echo ran >> "$1"';
          const started = Date.now();
          await runner.run("sh", ["-c", script, "sh", marker], { signal: abort.signal })
            .then((r) => assert.notEqual(r.code, 0), () => {});
          const proc = runner.stream("sh", ["-c", script, "sh", marker], { signal: abort.signal });
          await Promise.all([readAll(proc.stdout), readAll(proc.stderr)]).catch(() => {});
          await proc.done.then((exit) => assert.notEqual(exit.code, 0), () => {});
          assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
          await new Promise((r) => setTimeout(r, 1000));
          assert.equal(await Deno.readTextFile(marker).catch(() => ""), "", "the program ran");
        });

        await step("large output on both streams at once is complete", async () => {
          const r = await runner.run("sh", [
            "-c",
            "head -c 3000000 /dev/zero | tr '\\0' a; head -c 1000000 /dev/zero | tr '\\0' b >&2",
          ]);
          assert.equal(r.code, 0);
          assert.equal(r.stdout.length, 3_000_000);
          assert.equal(r.stderr.length, 1_000_000);
          assert.ok(/^a+$/.test(r.stdout) && /^b+$/.test(r.stderr));
        });

        await step("stream: output arrives while the program runs", async () => {
          const proc = runner.stream("sh", ["-c", "echo first; sleep 2; echo second; echo e >&2"]);
          const reader = proc.stdout.getReader();
          const started = Date.now();
          const first = await reader.read();
          assert.equal(decoder.decode(first.value), "first\n");
          assert.ok(Date.now() - started < 1800, "the first line came before the program ended");
          let rest = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            rest += decoder.decode(value);
          }
          assert.equal(rest, "second\n");
          assert.equal(await readAll(proc.stderr), "e\n");
          assert.deepEqual(await exitOf(proc.done), { code: 0 });
        });

        await step("stream: unread stdout holds the program back (nothing piles up)", async () => {
          const mark = `${scratchDir}/wrote-all`;
          const total = 20_000_000;
          const proc = runner.stream("sh", [
            "-c",
            `head -c ${total} /dev/zero; : > "$1"`,
            "sh",
            mark,
          ]);
          // Nothing reads stdout: pipes and windows fill and the program waits on its write.
          await new Promise((r) => setTimeout(r, 2500));
          const finished = await Deno.stat(mark).then(() => true, () => false);
          assert.equal(finished, false, "the program wrote 20 MB nobody read (buffered)");
          let got = 0;
          for await (const chunk of proc.stdout) got += chunk.length;
          assert.equal(got, total);
          assert.equal(await readAll(proc.stderr), "");
          assert.deepEqual(await exitOf(proc.done), { code: 0 });
          await Deno.stat(mark);
        });

        await step("stream: kill() or a timeout while stdout waits unread ends it", async () => {
          // done resolves while the unread output still waits (a caller may kill, await
          // done, and only then drop or read the streams), and the program is gone.
          const within = <T>(p: Promise<T>, what: string) => {
            let timer: ReturnType<typeof setTimeout> | undefined;
            return Promise.race([
              p,
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new Error(`${what}: done never resolved`)), 8000);
              }),
            ]).finally(() => clearTimeout(timer));
          };
          const script = 'echo $$ > "$1"; exec cat /dev/zero';
          const pidFiles = [`${scratchDir}/killed.pid`, `${scratchDir}/timed.pid`];
          const killed = runner.stream("sh", ["-c", script, "sh", pidFiles[0]]);
          const timed = runner.stream("sh", ["-c", script, "sh", pidFiles[1]], {
            timeoutMs: 1500,
          });
          await new Promise((r) => setTimeout(r, 1000));
          killed.kill();
          const k = await within(killed.done, "kill()");
          assert.notEqual(k.code, 0);
          const t = await within(timed.done, "timeout");
          assert.equal(t.timedOut, true);
          for (const proc of [killed, timed]) {
            await proc.stdout.cancel();
            await proc.stderr.cancel();
          }
          for (const file of pidFiles) await waitGone(Number(await Deno.readTextFile(file)));
        });

        await step("stream: exit code, stdin, env and cwd as run() has them", async () => {
          const proc = runner.stream("sh", ["-c", 'cat; printf "%s:" "$V"; pwd; exit 3'], {
            stdin: "in\n",
            env: { V: "v w" },
            cwd: scratchDir,
          });
          const [out] = await Promise.all([readAll(proc.stdout), readAll(proc.stderr)]);
          assert.equal(out, `in\nv w:${scratchDir}\n`);
          assert.deepEqual(await exitOf(proc.done), { code: 3 });
        });

        await step("stream: a timeout kills it and says so; kill() stops it", async () => {
          const timed = runner.stream("sleep", ["30"], { timeoutMs: 400 });
          await Promise.all([readAll(timed.stdout), readAll(timed.stderr)]);
          const exit = await timed.done;
          assert.equal(exit.timedOut, true);
          assert.notEqual(exit.code, 0);
          const killed = runner.stream("sleep", ["30"]);
          setTimeout(() => killed.kill(), 300);
          await Promise.all([readAll(killed.stdout), readAll(killed.stderr)]);
          const k = await killed.done;
          assert.notEqual(k.code, 0);
          assert.notEqual(k.timedOut, true);
        });

        await step("shell strings (runShell/streamShell) get env and cwd", async () => {
          assert.ok(canRunShell(runner), "the runner offers runShell/streamShell");
          const r = await runner.runShell('printf "%s|" "$V" | tr a-z A-Z; pwd >&2; exit 4', {
            env: { V: "abc" },
            cwd: scratchDir,
          });
          assert.deepEqual([r.code, r.stdout, r.stderr.trim()], [4, "ABC|", scratchDir]);
          const proc = runner.streamShell("echo one && echo two");
          assert.equal(await readAll(proc.stdout), "one\ntwo\n");
          assert.deepEqual(await exitOf(proc.done), { code: 0 });
        });
      } finally {
        await fixture.teardown();
      }
    },
  });
}

/** A scratch directory whose name needs quoting. */
export async function scratchDirectory(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "provctl-runner it's " });
}
