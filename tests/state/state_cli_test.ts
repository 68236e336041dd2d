/**
 * `provctl state status|migrate` and the schema check, through the real CLI against a real
 * PostgreSQL cluster; and `[state] backend = "postgres"` used by `provctl token`.
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import { postgresUnavailable, sharedPostgres, stopSharedPostgres } from "../fixtures/postgres.ts";

const unavailable = postgresUnavailable();
if (unavailable) console.error(`state CLI tests skipped: ${unavailable}`);

Deno.test({
  name: "provctl state: files needs nothing; migrate twice is idempotent; status; tokens shared",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const pg = await sharedPostgres();
    const url = await pg.database("cli_migrate");
    const cli = await cliSandbox();
    const other = await cliSandbox();
    try {
      const files = await cli.run(["state", "status"]);
      assert.equal(files.code, 0, files.stderr);
      assert.match(files.stdout, /^backend\s+files$/m);
      assert.match(
        (await cli.run(["state", "migrate"])).stderr,
        /files backend needs no migration/,
      );

      const env = { PROVCTL_STATE_BACKEND: "postgres", PROVCTL_DATABASE_URL: url };
      const missing = await cli.run(["state", "status"], {
        env: { PROVCTL_STATE_BACKEND: "postgres" },
      });
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /PROVCTL_DATABASE_URL \(the database URL\) is not set/);

      // Before migrate: every command using the state refuses, naming what to do.
      const before = await cli.run(["token", "list"], { env });
      assert.equal(before.code, 1, before.stderr);
      assert.match(before.stderr, /has schema version 0; this provctl needs 1/);
      assert.match(before.stderr, /provctl state migrate/);

      const first = await cli.run(["state", "migrate"], { env });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /from schema version 0 to 1/);
      const second = await cli.run(["state", "migrate", "-o", "json"], { env });
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout), {
        location: `127.0.0.1:${pg.port}/cli_migrate`,
        from: 1,
        to: 1,
        applied: [],
      });
      assert.equal(await pg.psql("select count(*) from provctl_schema", "cli_migrate"), "1");

      const status = await cli.run(["state", "status", "-o", "json"], { env });
      assert.equal(status.code, 0, status.stderr);
      assert.deepEqual(JSON.parse(status.stdout), {
        backend: "postgres",
        location: `127.0.0.1:${pg.port}/cli_migrate`,
        schema_version: 1,
        schema_supported: 1,
        audit_backlog: 0,
      });
      assert.doesNotMatch(status.stdout + status.stderr, /postgres@/, "no URL user shown");

      // A token created from one controller is seen (and revoked) from another.
      const created = await cli.run(["token", "create", "ci", "--scope", "read"], { env });
      assert.equal(created.code, 0, created.stderr);
      const listed = await other.run(["token", "list", "-o", "json"], { env });
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(JSON.parse(listed.stdout).name, "ci");
      assert.equal((await other.run(["token", "revoke", "ci"], { env })).code, 0);
      assert.equal((await cli.run(["token", "list", "-o", "json"], { env })).stdout, "");

      // An older provctl against a newer schema: one line naming both versions, exit 1.
      await pg.psql(
        "insert into provctl_schema (version, description, provctl) values (2, 'future', '9.9.9')",
        "cli_migrate",
      );
      const newer = await cli.run(["token", "list"], { env });
      assert.equal(newer.code, 1, newer.stderr);
      assert.equal(newer.stderr.trim().split("\n").length, 1, newer.stderr);
      assert.match(
        newer.stderr,
        /^provctl: error: the state database 127\.0\.0\.1:\d+\/cli_migrate has schema version 2, newer than this provctl supports \(1\); upgrade provctl$/m,
      );
      const refusedMigrate = await cli.run(["state", "migrate"], { env });
      assert.equal(refusedMigrate.code, 1, refusedMigrate.stderr);
      assert.match(refusedMigrate.stderr, /schema version 2, newer than this provctl supports/);
      assert.equal(await pg.psql("select max(version) from provctl_schema", "cli_migrate"), "2");

      const down = await cli.run(["token", "list"], {
        env: { ...env, PROVCTL_DATABASE_URL: `postgres://nobody:secret@127.0.0.1:1/x` },
      });
      assert.equal(down.code, 1, down.stderr);
      assert.match(down.stderr, /cannot reach the state database 127\.0\.0\.1:1\/x/);
      assert.doesNotMatch(down.stderr, /secret/);
    } finally {
      await cli.cleanup();
      await other.cleanup();
    }
  },
});

Deno.test({
  name: "state CLI tests: stop the cluster",
  ignore: Boolean(unavailable),
  fn: stopSharedPostgres,
});
