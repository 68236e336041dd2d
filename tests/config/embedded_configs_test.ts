/**
 * The embedded configs are compiled into src/config/_embedded_configs.ts (no TOML parsing
 * at start-up). This fails when that module no longer matches configs/*.toml.
 */
import assert from "node:assert/strict";
import { GENERATED, generateFromFiles } from "../../scripts/gen_configs.ts";

Deno.test("the compiled embedded configs match configs/defaults.toml and messages.toml", async () => {
  const current = await Deno.readTextFile(GENERATED);
  assert.ok(
    current === await generateFromFiles(),
    "src/config/_embedded_configs.ts is stale: run `deno task gen` and commit the result",
  );
});

Deno.test("a changed config text changes the compiled module (the check can fail)", async () => {
  const defaults = await Deno.readTextFile(new URL("../../configs/defaults.toml", import.meta.url));
  const messages = await Deno.readTextFile(new URL("../../configs/messages.toml", import.meta.url));
  const { generate } = await import("../../scripts/gen_configs.ts");
  assert.notEqual(
    generate(defaults.replace("stop_ms = 10000", "stop_ms = 10001"), messages),
    generate(defaults, messages),
  );
});
