/** The StateBackend contract against the postgres backend, on a real throwaway cluster. */
import { PostgresStateBackend } from "../../src/state/postgres_backend.ts";
import { postgresUnavailable, sharedPostgres, stopSharedPostgres } from "../fixtures/postgres.ts";
import { stateBackendContract } from "./contract.ts";

const unavailable = postgresUnavailable();
if (unavailable) console.error(`postgres state tests skipped: ${unavailable}`);

stateBackendContract({
  name: "postgres",
  ignore: Boolean(unavailable),
  async make() {
    const pg = await sharedPostgres();
    const url = await pg.database(`contract_${crypto.randomUUID().slice(0, 8)}`);
    const backend = await PostgresStateBackend.open({ url, sslmode: "disable" });
    await backend.migrate();
    await backend.check();
    return { backend, cleanup: () => Promise.resolve() };
  },
});

Deno.test({
  name: "postgres state tests: stop the cluster",
  ignore: Boolean(unavailable),
  fn: stopSharedPostgres,
});
