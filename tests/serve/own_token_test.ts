/**
 * GET /api/v1/token: a client (the dashboard) learns its own token's name and scope, to
 * offer only what the API will allow. Checked against /openapi.json.
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import {
  apiClient,
  createToken,
  OpenApiChecker,
  type RunningServer,
  startServer,
} from "../helpers/serve.ts";

Deno.test({
  name: "GET /api/v1/token answers the caller's own token record, never a secret",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cli = await cliSandbox();
    let server: RunningServer | undefined;
    try {
      const token = (name: string, scope: string, ...more: string[]) =>
        createToken(cli, name, scope, ...more);
      const read = await token("viewer", "read");
      const operate = await token("ops", "operate", "--expires", "30d");
      server = await startServer((args) => cli.spawn(args));
      const api = apiClient(server.url, await OpenApiChecker.load(server.url));

      type Token = { name: string; scope: string; expires: string | null };
      const mine = await api("GET", "/token", { token: read });
      assert.equal(mine.status, 200, mine.text);
      const me = mine.body as Token;
      assert.equal(me.name, "viewer");
      assert.equal(me.scope, "read");
      assert.equal(me.expires, null);
      assert.ok(!mine.text.includes(read), "the secret is not echoed");

      const theirs = (await api("GET", "/token", { token: operate })).body as Token;
      assert.equal(theirs.name, "ops");
      assert.equal(theirs.scope, "operate");
      assert.match(theirs.expires ?? "", /^\d{4}-\d\d-\d\dT/);

      assert.equal((await api("GET", "/token")).status, 401);
      assert.equal((await api("GET", "/token", { token: "pvt_wrong" })).status, 401);
    } finally {
      if (server) assert.equal(await server.stop(), 0);
      await cli.cleanup();
    }
  },
});
