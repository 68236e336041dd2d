import assert from "node:assert/strict";
import { palette, table } from "../../src/cli/render.ts";

Deno.test("table cells show control characters escaped but keep the palette's colours", () => {
  const c = palette(true);
  const out = table([["NAME", "STATE"], ["x\x1b]0;t\x07\ny", c.green("running")]]);
  assert.equal(
    out,
    "NAME            STATE\nx\\e]0;t\\x07\\ny  \x1b[32mrunning\x1b[39m\n",
  );
  // Colour codes in untrusted text other than the palette's are escaped.
  assert.equal(table([["\x1b[8mhidden"]]), "\\e[8mhidden\n");
});
