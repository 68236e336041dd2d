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
  name: "postgres deploy lock: released after its session ended (a database restart mid-deploy)",
  ignore: Boolean(unavailable),
  async fn() {
    const pg = await sharedPostgres();
    const db = `lost_${crypto.randomUUID().slice(0, 8)}`;
    const backend = await PostgresStateBackend.open({
      url: await pg.database(db),
      sslmode: "disable",
    });
    try {
      await backend.migrate();
      const lock = await backend.acquireDeployLock("api", {
        deploymentId: "api-1",
        operation: "deploy",
        user: "alice",
      });
      await pg.psql("select pg_terminate_backend(session_pid) from provctl_deploy_locks", db);
      await new Promise((r) => setTimeout(r, 300)); // the deploy runs on meanwhile
      // The driver must not throw out of a timer when the dead connection is used.
      await lock.release();
      await new Promise((r) => setTimeout(r, 200));
      const again = await backend.acquireDeployLock("api", {
        deploymentId: "api-2",
        operation: "deploy",
        user: "bob",
      });
      await again.release();
    } finally {
      await backend.close();
    }
  },
});

Deno.test({
  name: "postgres state tests: stop the cluster",
  ignore: Boolean(unavailable),
  fn: stopSharedPostgres,
});
