import assert from "node:assert/strict";
import { discoverInventory } from "../../src/discovery/discover.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { runProviderContract } from "./contract.ts";
import { startDigitalOceanFake } from "./fakes/digitalocean.ts";
import { fixtureMachines } from "./fakes/fixture.ts";

/** A DigitalOcean source on the fake API with its cache in a fresh state dir. */
async function withCachedSource(
  fn: (
    context: {
      fake: ReturnType<typeof startDigitalOceanFake>;
      dir: string;
      inv: ReturnType<typeof parseInventory>;
    },
  ) => Promise<void>,
): Promise<void> {
  const fake = startDigitalOceanFake(fixtureMachines());
  const dir = await Deno.makeTempDir();
  try {
    const inv = parseInventory(
      `[sources.do]\nprovider = "digitalocean"\napi_url = "${fake.apiUrl}"\n${fake.sourceLines}\n`,
      { file: "/m.toml" },
    );
    await fn({ fake, dir, inv });
  } finally {
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
}

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

Deno.test({
  name: "[digitalocean] a cache dated in the future (the clock was ahead) is not fresh forever",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withCachedSource(async ({ fake, dir, inv }) => {
      const now = Date.now();
      const yearAhead = now + 365 * 86_400_000;
      // Written while the clock read a year ahead; read once it is right again.
      await discoverInventory(inv, {
        stateDir: dir,
        env: fake.env,
        cache: "use",
        now: () => yearAhead,
      });
      const sent = fake.requests.length;
      const [r] = (await discoverInventory(inv, {
        stateDir: dir,
        env: fake.env,
        cache: "use",
        now: () => now,
      })).results;
      assert.equal(r.state, "fresh", String(r.error));
      assert.ok(fake.requests.length > sent);
    }),
});

Deno.test({
  name: "[digitalocean] another account's cache is not served (a switched token)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withCachedSource(async ({ fake, dir, inv }) => {
      const first = (await discoverInventory(inv, { stateDir: dir, env: fake.env, cache: "use" }))
        .results[0];
      assert.equal(first.state, "fresh", String(first.error));
      assert.ok(first.records.length > 0);
      // The same token within the TTL: the cache, no request.
      const sent = fake.requests.length;
      const again = (await discoverInventory(inv, { stateDir: dir, env: fake.env, cache: "use" }))
        .results[0];
      assert.equal(again.state, "cached");
      assert.equal(fake.requests.length, sent);
      // Another project's token: never the first project's machines, not even as stale.
      const other = (await discoverInventory(inv, {
        stateDir: dir,
        env: { DO_TEST_TOKEN: "dop_v1_anotherproject000000000000" },
        cache: "use",
      })).results[0];
      assert.notEqual(other.state, "cached");
      assert.notEqual(other.state, "stale");
      assert.deepEqual(other.records, []);
      // No token at all: the cache is served as written (nothing to tell accounts apart).
      const none = (await discoverInventory(inv, { stateDir: dir, env: {}, cache: "use" }))
        .results[0];
      assert.equal(none.state, "cached", String(none.error));
    }),
});

Deno.test({
  name: "[digitalocean] a hand-damaged cache is no cache: refetched, no crash",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withCachedSource(async ({ fake, dir, inv }) => {
      await discoverInventory(inv, { stateDir: dir, env: fake.env, cache: "use" });
      const path = `${dir}/discovery/do.json`;
      const entry = JSON.parse(await Deno.readTextFile(path));
      for (const records of [[1, "x"], [null], [{ ...entry.records[0], tags: [7] }]]) {
        await Deno.writeTextFile(path, JSON.stringify({ ...entry, records }), { mode: 0o600 });
        const sent = fake.requests.length;
        const [r] = (await discoverInventory(inv, { stateDir: dir, env: fake.env, cache: "use" }))
          .results;
        assert.equal(r.state, "fresh", String(r.error));
        assert.ok(fake.requests.length > sent, "refetched");
      }
    }),
});
