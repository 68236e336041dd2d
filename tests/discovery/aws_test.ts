import assert from "node:assert/strict";
import { discoverInventory } from "../../src/discovery/discover.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { runProviderContract } from "./contract.ts";
import { startAwsFake } from "./fakes/aws.ts";

runProviderContract({
  provider: "aws",
  start: startAwsFake,
  prodFilter: '"tag:env" = "prod"',
  runningStatus: "running",
  keyValueOnly: true,
  extraLabels: (name) => ({ Name: name }),
  parallelRequests: 2,
});

Deno.test({
  name: "[aws] an answer with a DTD (entity expansion) is refused before parsing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const laughs =
      `<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n` +
      `<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>&lol2;</instanceId>` +
      `</item></instancesSet></item></reservationSet></DescribeInstancesResponse>`;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(laughs, { headers: { "content-type": "text/xml" } }),
    );
    try {
      const inv = parseInventory(
        `[sources.a]\nprovider = "aws"\nregions = ["eu-west-1"]\napi_url = "http://127.0.0.1:${server.addr.port}/"\n`,
        { file: "/m.toml" },
      );
      const [r] = (await discoverInventory(inv, {
        stateDir: "/nonexistent",
        env: { AWS_ACCESS_KEY_ID: "AKIAX", AWS_SECRET_ACCESS_KEY: "s" },
        cache: "off",
      })).results;
      assert.equal(r.state, "failed");
      assert.match(String((r.error as { params?: { detail?: string } }).params?.detail), /DOCTYPE/);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "[aws] an API that keeps giving new NextTokens is cut off at the page limit",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // Regions are read to their end before their pages are handed on: the page limit has
    // to hold inside each region's loop, or such an API is paged forever.
    let served = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
      served++;
      const next = served < 500 ? `<nextToken>t${served}</nextToken>` : "";
      return new Response(
        `<DescribeInstancesResponse><reservationSet></reservationSet>${next}</DescribeInstancesResponse>`,
        { headers: { "content-type": "text/xml" } },
      );
    });
    try {
      const inv = parseInventory(
        `[sources.a]\nprovider = "aws"\nregions = ["eu-west-1", "us-east-1"]\napi_url = "http://127.0.0.1:${server.addr.port}/"\n`,
        { file: "/m.toml" },
      );
      const [r] = (await discoverInventory(inv, {
        stateDir: "/nonexistent",
        env: { AWS_ACCESS_KEY_ID: "AKIAX", AWS_SECRET_ACCESS_KEY: "s" },
        cache: "off",
        maxPages: 20,
      })).results;
      assert.equal(r.state, "failed");
      assert.equal((r.error as { key?: string }).key, "discovery.too_many_pages");
      assert.ok(served <= 22, `${served} pages requested, the limit is 20`);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "[aws] a region from AWS_REGION is checked like one in the file (it is part of the URL)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    let served = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
      served++;
      return new Response("<DescribeInstancesResponse></DescribeInstancesResponse>");
    });
    try {
      // "{region}" stands in the host: this value sends the signed request elsewhere.
      const inv = parseInventory(
        `[sources.a]\nprovider = "aws"\napi_url = "http://ec2.{region}.amazonaws.invalid/"\n`,
        { file: "/m.toml" },
      );
      const [r] = (await discoverInventory(inv, {
        stateDir: "/nonexistent",
        env: {
          AWS_ACCESS_KEY_ID: "AKIAX",
          AWS_SECRET_ACCESS_KEY: "s",
          AWS_SESSION_TOKEN: "session-secret",
          AWS_REGION: `x@127.0.0.1:${server.addr.port}/#`,
        },
        cache: "off",
      })).results;
      assert.equal(served, 0);
      assert.equal(r.state, "failed");
      assert.equal((r.error as { key?: string }).key, "discovery.region_env_invalid");
    } finally {
      await server.shutdown();
    }
  },
});
