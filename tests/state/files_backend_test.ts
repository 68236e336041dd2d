/** The StateBackend contract against the files backend (a temp state dir). */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { FilesStateBackend } from "../../src/state/files_backend.ts";
import { stateBackendContract } from "./contract.ts";

stateBackendContract({
  name: "files",
  async make() {
    const dir = await Deno.makeTempDir({ prefix: "provctl-state-" });
    return {
      backend: new FilesStateBackend({ stateDir: dir, auditFile: `${dir}/audit.jsonl` }),
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  },
  // The local JSONL log is the only copy with this backend: nothing is ever replayed
  // into it, so it does not look ids up on append.
  skip: new Set(["audit: a replayed record is stored once"]),
});

Deno.test("files backend: breakers are not read through a link nor from a dir others can write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-state-" });
  try {
    const backend = new FilesStateBackend({ stateDir: dir, auditFile: `${dir}/audit.jsonl` });
    await backend.putBreaker("web1:22", { version: 1, host: "web1:22" });
    assert.equal((await Deno.stat(`${dir}/breakers/web1_22.json`)).mode! & 0o777, 0o600);
    // Another user's document planted as a link: refused, not followed.
    await Deno.writeTextFile(`${dir}/planted.json`, JSON.stringify({ version: 1, host: "x" }));
    await Deno.symlink(`${dir}/planted.json`, `${dir}/breakers/db1_22.json`);
    const e = await expectProvctlError("PermissionDenied", () => backend.getBreaker("db1:22"));
    assert.equal(e.key, "trust.symlink");
    assert.deepEqual((await backend.listBreakers()).map((b) => b.host), ["web1:22"]);
    await Deno.chmod(`${dir}/breakers`, 0o777);
    assert.equal(
      (await expectProvctlError("PermissionDenied", () => backend.listBreakers())).key,
      "trust.mode",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
