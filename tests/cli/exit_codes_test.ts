/**
 * Exit codes that do not come from a command's own result: Stricli's parse and load
 * failures, and failures while a command closes (audit log, metrics).
 */
import assert from "node:assert/strict";
import { exitCodeOf } from "../../src/main.ts";
import { fleetSandbox, fleetUnavailable } from "../helpers/fleet.ts";

Deno.test("only Stricli's parse and routing failures are usage errors; its other failures are bugs", () => {
  assert.equal(exitCodeOf(-4), 2, "invalid argument");
  assert.equal(exitCodeOf(-5), 2, "unknown command");
  for (const internal of [-1, -2, -3, -10]) assert.equal(exitCodeOf(internal), 70, `${internal}`);
  assert.equal(exitCodeOf(undefined), 0);
  assert.equal(exitCodeOf(3), 3);
  assert.equal(exitCodeOf("1"), 1);
  assert.equal(exitCodeOf(Number.NaN), 70);
  assert.equal(exitCodeOf(300), 70);
});

const skip = fleetUnavailable();
Deno.test({
  name: "an audit record that cannot be written makes a successful command fail (exit 1)",
  ignore: skip !== undefined,
  async fn() {
    const sandbox = await fleetSandbox(1);
    try {
      // A full disk: a small tmpfs holding the audit log and a file that takes the rest.
      const full = `${sandbox.cli.dir}/full`;
      await Deno.mkdir(full);
      const mount = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", full],
      }).output();
      assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
      try {
        await Deno.writeTextFile(`${full}/audit.jsonl`, "");
        await Deno.chmod(`${full}/audit.jsonl`, 0o600);
        await Deno.writeFile(`${full}/filler`, new Uint8Array(64 * 1024)).catch(() => {});
        const configDir = `${sandbox.cli.dir}/conf`;
        await Deno.mkdir(configDir);
        await Deno.writeTextFile(
          `${configDir}/defaults.toml`,
          `[observe]\naudit_file = "${full}/audit.jsonl"\n`,
        );
        const result = await sandbox.run(["exec", "m1", "--config-dir", configDir, "--", "true"]);
        assert.equal(result.code, 1, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
        assert.match(result.stderr, /could not be recorded in the audit log/);
        assert.doesNotMatch(result.stderr, /\n\s+at .*:\d+:\d+/, "no stack trace");
      } finally {
        await new Deno.Command("umount", { args: [full] }).output();
      }
    } finally {
      await sandbox.stop();
    }
  },
});
