/** The StateBackend contract against the files backend (a temp state dir). */
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
