import assert from "node:assert/strict";
import { discoverInventory } from "../../src/discovery/discover.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { fixtureMachines } from "./fakes/fixture.ts";
import { runProviderContract } from "./contract.ts";
import { startUpCloudFake } from "./fakes/upcloud.ts";

runProviderContract({
  provider: "upcloud",
  start: startUpCloudFake,
  prodFilter: 'label = "env=prod"',
  runningStatus: "started",
  parallelRequests: 2,
});

Deno.test({
  name: "[upcloud] Basic auth from UPCLOUD_USERNAME/UPCLOUD_PASSWORD reaches the API",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const fake = startUpCloudFake(fixtureMachines());
    try {
      const inv = parseInventory(
        `[sources.u]\nprovider = "upcloud"\napi_url = "${fake.apiUrl}"\n`,
        { file: "/m.toml" },
      );
      const [r] = (await discoverInventory(inv, {
        stateDir: "/nonexistent",
        env: { UPCLOUD_USERNAME: "apiuser", UPCLOUD_PASSWORD: "apipassword-secret" },
        cache: "off",
      })).results;
      assert.equal(r.state, "fresh", String(r.error));
      assert.equal(r.records.length, 7);
      assert.ok(fake.requests.every((q) => q.headers.get("authorization")?.startsWith("Basic ")));
    } finally {
      await fake.close();
    }
  },
});
