/**
 * `provctl status [NAME...]` and `provctl version` without flags skip Stricli
 * (src/cli/fast_path.ts). The same command line with `--` in front of the names goes
 * through Stricli to the same command: both must answer alike, byte for byte, whatever
 * the names and the services' states.
 */
import assert from "node:assert/strict";
import { fastCommand, MAX_ARGUMENTS, runFast } from "../../src/cli/fast_path.ts";
import type { ProvctlContext } from "../../src/cli/context.ts";
import { cliSandbox } from "../helpers/cli.ts";

Deno.test("only flagless status and version take the fast path", () => {
  const names = (args: string[]) => fastCommand(args)?.names;
  assert.deepEqual(names(["status"]), []);
  assert.deepEqual(names(["status", "web", "api@1", ""]), ["web", "api@1", ""]);
  assert.deepEqual(names(["version"]), []);
  for (
    const args of [
      [],
      ["status", "-o", "json"],
      ["status", "web", "--host", "h1"],
      ["status", "--", "web"],
      ["status", "-h"],
      ["status", "--help"],
      ["version", "extra"],
      ["version", "-o", "json"],
      ["stop", "web"],
      ["Status", "web"],
      ["toString"],
      ["__complete", "status"],
    ]
  ) {
    assert.equal(fastCommand(args), undefined, JSON.stringify(args));
  }
});

/** A context whose output is captured (the command itself is real). */
function capturingContext(env: Record<string, string>, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const context: ProvctlContext = {
    process: {
      stdout: { write: (t) => void out.push(t) },
      stderr: { write: (t) => void err.push(t) },
      env,
    },
    stdoutIsTty: false,
    stderrIsTty: false,
    stdinIsTty: false,
    cwd: Deno.cwd(),
    argv,
  };
  return { context, out, err };
}

Deno.test("the fast path runs the command itself and sets the exit code", async () => {
  const { context, out } = capturingContext({ NO_COLOR: "1", HOME: "/nonexistent" }, ["version"]);
  assert.equal(await runFast(["version"], context), true);
  assert.match(out.join(""), /^provctl \S+ \(deno /);
  assert.equal(context.process.exitCode, 0);

  const other = capturingContext({}, ["stop", "web"]);
  assert.equal(await runFast(["stop", "web"], other.context), false);
  assert.equal(other.out.length + other.err.length, 0);
  assert.equal(other.context.process.exitCode, undefined);
});

/** The table's UPTIME cells (which may tick between the two runs) made equal. */
const sameClock = (r: { code: number; stdout: string; stderr: string }) => ({
  ...r,
  stdout: r.stdout.replace(/\b\d+[smhd]\b/g, "T").replace(/ +/g, " "),
});

Deno.test({
  name: "status and version answer the same with and without the parser",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cli = await cliSandbox();
    try {
      const started = await cli.run(["start", "web", "--", "sleep", "60"]);
      assert.equal(started.code, 0, started.stderr);
      // A service that exited at once (start fails) reports how it ended.
      const crashed = await cli.run(["start", "dies", "--", "sh", "-c", "exit 7"]);
      assert.equal(crashed.code, 1, crashed.stderr);
      const cases: [string[], Record<string, string>?][] = [
        [["web"]],
        [["web", "dies", "missing"]],
        [[]],
        [["missing"]],
        [["bad name\u001b[31m"]],
        [[""]],
        [["web"], { PROVCTL_OUTPUT: "json" }],
        [["web"], { PROVCTL_OUTPUT: "yaml" }],
      ];
      for (const [names, env] of cases) {
        const fast = await cli.run(["status", ...names], { env });
        const parsed = await cli.run(["status", "--", ...names], { env });
        assert.deepEqual(
          sameClock(fast),
          sameClock(parsed),
          `status ${JSON.stringify(names)} ${JSON.stringify(env)}`,
        );
      }
      const fastVersion = await cli.run(["version"]);
      const parsedVersion = await cli.run(["version", "-q"]);
      assert.equal(fastVersion.code, 0);
      assert.deepEqual(fastVersion, parsedVersion);
      const jsonVersion = await cli.run(["version"], { env: { PROVCTL_OUTPUT: "json" } });
      assert.deepEqual(
        jsonVersion,
        await cli.run(["version", "-q"], { env: { PROVCTL_OUTPUT: "json" } }),
      );
      assert.equal(JSON.parse(jsonVersion.stdout).version !== undefined, true);
    } finally {
      await cli.cleanup();
    }
  },
});

Deno.test("more names than a command takes is a usage error, not a stack overflow", async () => {
  // A call given about 127 000 arguments throws a RangeError as they are spread (exit 70,
  // with a stack trace): above MAX_ARGUMENTS Stricli refuses the command line instead.
  const args = ["status", ...Array<string>(MAX_ARGUMENTS + 1).fill("web")];
  assert.equal(fastCommand(args), undefined);
  assert.deepEqual(fastCommand(args.slice(0, -1))?.names.length, MAX_ARGUMENTS);
  const { run } = await import("@stricli/core");
  const { appFor } = await import("../../src/cli/app.ts");
  const { exitCodeOf } = await import("../../src/main.ts");
  for (const many of [args, ["exec", "--all", "--", ...args]]) {
    const parsed = capturingContext({ NO_COLOR: "1", HOME: "/nonexistent" }, many);
    await run(appFor(many), many, parsed.context);
    assert.equal(exitCodeOf(parsed.context.process.exitCode), 2, many[0]);
    assert.deepEqual(parsed.out, []);
    assert.match(parsed.err.join(""), /^provctl: error: unexpected argument 'web' /, many[0]);
  }
});
