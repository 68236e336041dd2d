import assert from "node:assert/strict";
import { discoverInventory } from "../../src/discovery/discover.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { runProviderContract } from "./contract.ts";
import { startDigitalOceanFake } from "./fakes/digitalocean.ts";

runProviderContract({
  provider: "digitalocean",
  start: startDigitalOceanFake,
  prodFilter: 'tag_name = "env:prod"',
  runningStatus: "active",
});

Deno.test({
  name: "[digitalocean] a next-page link to another host is not followed (the token stays home)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const seen: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      seen.push(req.url);
      return Response.json({
        droplets: [],
        links: { pages: { next: "http://127.0.0.2:9/v2/droplets?page=2" } },
        meta: { total: 2 },
      });
    });
    try {
      const inv = parseInventory(
        `[sources.do]\nprovider = "digitalocean"\napi_url = "http://127.0.0.1:${server.addr.port}/v2"\n`,
        { file: "/m.toml" },
      );
      const [r] = (await discoverInventory(inv, {
        stateDir: "/nonexistent",
        env: { DIGITALOCEAN_TOKEN: "t" },
        cache: "off",
      })).results;
      assert.equal(r.state, "failed");
      assert.equal((r.error as { key?: string }).key, "discovery.bad_next_page");
      assert.equal(seen.length, 1);
    } finally {
      await server.shutdown();
    }
  },
});
