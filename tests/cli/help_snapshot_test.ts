/**
 * Help and completion output, compared with snapshots in tests/cli/snapshots/.
 * After an intended change: UPDATE_SNAPSHOTS=1 deno test -A tests/cli/help_snapshot_test.ts
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";

const SNAPSHOTS = new URL("./snapshots/", import.meta.url).pathname;
const CASES: Record<string, string[]> = {
  "help": ["--help"],
  "help_start": ["start", "--help"],
  "help_status": ["status", "--help"],
  "help_exec": ["exec", "--help"],
  "help_deploy": ["deploy", "--help"],
  "completion_bash": ["completion", "bash"],
  "completion_zsh": ["completion", "zsh"],
  "completion_fish": ["completion", "fish"],
};

Deno.test("help and completion output match their snapshots", async () => {
  const cli = await cliSandbox();
  try {
    for (const [name, args] of Object.entries(CASES)) {
      const out = await cli.run(args);
      assert.equal(out.code, 0, `${name}: ${out.stderr}`);
      assert.equal(out.stderr, "", name);
      const file = `${SNAPSHOTS}${name}.txt`;
      if (Deno.env.get("UPDATE_SNAPSHOTS") === "1") {
        await Deno.writeTextFile(file, out.stdout);
        continue;
      }
      const expected = await Deno.readTextFile(file).catch(() => {
        throw new Error(`no snapshot ${file}: run with UPDATE_SNAPSHOTS=1`);
      });
      assert.equal(out.stdout, expected, `${name} differs from ${file}`);
    }
  } finally {
    await cli.cleanup();
  }
});
