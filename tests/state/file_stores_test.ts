/** The files backend (and in-memory operations) against the state store contract. */
import { FileTokenStore } from "../../src/state/file_token_store.ts";
import { MemoryOperationStore } from "../../src/state/operations.ts";
import { operationStoreContract, tokenStoreContract } from "./store_contract.ts";

tokenStoreContract("FileTokenStore", async () => {
  const dir = await Deno.makeTempDir();
  return {
    store: new FileTokenStore(`${dir}/state`),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});

operationStoreContract("MemoryOperationStore", (kept) => new MemoryOperationStore(kept));
