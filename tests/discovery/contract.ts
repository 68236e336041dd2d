/**
 * The shared provider contract: every discovery provider (src/discovery/<provider>.ts)
 * must pass these cases against its fake API (fakes/<provider>.ts), which serves the
 * machines of fakes/fixture.ts in that provider's real field shapes. A provider's test
 * file only calls runProviderContract. Each case starts its own fake on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import {
  type CacheMode,
  discoverInventory,
  discoverSource,
  sourcesOf,
} from "../../src/discovery/discover.ts";
import type { ProviderKind } from "../../src/discovery/provider.ts";
import { checkLabelKey, checkLabelValue } from "../../src/fleet/_labels.ts";
import { checkName } from "../../src/fleet/_names.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { expectProvctlError } from "../helpers/errors.ts";
import type { FakeApi } from "./fakes/_server.ts";
import { type FakeMachine, fixtureMachines, HOSTILE_NAME, manyMachines } from "./fakes/fixture.ts";

export interface ProviderContractOptions {
  readonly provider: ProviderKind;
  readonly start: (machines: FakeMachine[]) => FakeApi;
  /** A server-side filter selecting env=prod machines, as TOML inline-table entries. */
  readonly prodFilter: string;
  /** The provider's word for a running machine (for filters = { status = ... }). */
  readonly runningStatus: string;
  /** Tags are key/value only (AWS, Hetzner): a bare tag arrives as key with value "". */
  readonly keyValueOnly?: boolean;
  /** Labels the provider adds from its own fields (AWS: the Name tag). */
  readonly extraLabels?: (name: string) => Record<string, string>;
  /** Requests one fetch starts at once (AWS: one per region; UpCloud: servers + IPs). */
  readonly parallelRequests?: number;
}

const messages = new Messages(embeddedMessages());
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function runProviderContract(options: ProviderContractOptions): void {
  const test = (title: string, fn: (fake: FakeApi, dir: string) => Promise<void>) =>
    Deno.test({
      name: `[${options.provider}] ${title}`,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => {
        const fake = options.start(fixtureMachines());
        const dir = await Deno.makeTempDir({ prefix: "provctl-discovery-" });
        try {
          await fn(fake, dir);
        } finally {
          await fake.close();
          await Deno.remove(dir, { recursive: true });
        }
      },
    });

  const inventoryFor = (fake: FakeApi, extra = "") =>
    parseInventory(
      `[profiles.cloud]\nuser = "deploy"\nlabels = { team = "ops" }\n\n` +
        `[sources.cloud]\nprovider = "${options.provider}"\napi_url = "${fake.apiUrl}"\n` +
        `${fake.sourceLines}\npage_size = 2\ntimeout = "2s"\nprofile = "cloud"\n` +
        `labels = { managed = "provctl" }\n${extra}`,
      { file: "/test/machines.toml" },
    );
  const run = (fake: FakeApi, dir: string, extra = "", cache: CacheMode = "off") =>
    discoverInventory(inventoryFor(fake, extra), {
      stateDir: dir,
      env: fake.env,
      cache,
    });

  test(
    "lists every machine over several pages, with addresses, status and region",
    async (fake, dir) => {
      const { results, inventory } = await run(fake, dir);
      const [result] = results;
      assert.equal(result.state, "fresh", String(result.error));
      assert.equal(result.records.length, 7);
      assert.ok(result.pages >= 3, `several pages (got ${result.pages})`);
      const byName = new Map(result.records.map((r) => [r.name, r]));
      for (const m of fixtureMachines()) {
        const r = byName.get(m.name);
        assert.ok(r, `record for ${JSON.stringify(m.name)}`);
        assert.equal(r.addresses.public_ipv4, m.publicV4, `${m.name} public_ipv4`);
        assert.equal(r.addresses.private_ipv4, m.privateV4, `${m.name} private_ipv4`);
        assert.equal(r.addresses.public_ipv6, m.publicV6, `${m.name} public_ipv6`);
        assert.equal(r.running, m.running, `${m.name} running`);
        assert.notEqual(r.status, "");
        assert.notEqual(r.region, "");
        assert.notEqual(r.id, "");
      }
      assert.equal(new Set(result.records.map((r) => r.id)).size, 7, "ids are unique");
      // Every request carried the credentials the fake checks (else it answers 401).
      assert.equal(fake.requests.length, result.requests);

      // The machines: public IPv4 first, else private, else IPv6 (connect_with default).
      const machine = (n: string) => inventory.machines.find((x) => x.name === n)!;
      assert.equal(machine("web1").host, "203.0.113.10");
      assert.equal(machine("db1").host, "192.168.130.20", "no public IP: the private one");
      assert.equal(machine("v6only").host, "2001:db8:50::1");
      assert.equal(machine("web1").source, "cloud");
      assert.equal(machine("web1").user, "deploy", "profile settings apply");
      assert.equal(machine("web1").profile, "cloud");
    },
  );

  test(
    "tags become labels (key=value, bare tags as tag/NAME), merged with profile and source labels",
    async (fake, dir) => {
      const { inventory } = await run(fake, dir);
      const web1 = inventory.machines.find((x) => x.name === "web1")!;
      const bare = options.keyValueOnly ? "frontend" : "tag/frontend";
      assert.deepEqual(web1.labels, {
        team: "ops",
        env: "prod",
        role: "web",
        [bare]: "",
        managed: "provctl",
        ...options.extraLabels?.("web1"),
      });
    },
  );

  test("hostile names and tags are cleaned into valid names and labels", async (fake, dir) => {
    const { inventory, notes } = await run(fake, dir);
    assert.equal(inventory.machines.length, 7);
    for (const m of inventory.machines) {
      checkName("machine", m.name);
      for (const [k, v] of Object.entries(m.labels)) {
        checkLabelKey(k);
        checkLabelValue(k, v);
      }
    }
    const evil = inventory.machines.find((m) => m.host === "203.0.113.60")!;
    assert.equal(evil.name, "evil__31m_script_alert_1___script___rm_-rf_____id");
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(JSON.stringify(inventory.machines), /[<>$`;\u001b\u0007]/);
    // Each change is reported (for -v), with the raw text quoted.
    const texts = notes.map((n) => messages.format(n.key, n.params));
    assert.ok(texts.some((t) => t.includes(JSON.stringify(HOSTILE_NAME))), texts.join("\n"));
    // deno-lint-ignore no-control-regex
    assert.ok(texts.every((t) => !/[\u0000-\u001f]/.test(t)), "no raw control characters");
  });

  test("filters are passed to the API; status filters running machines", async (fake, dir) => {
    const { results } = await run(fake, dir, `filters = { ${options.prodFilter} }\n`);
    const names = results[0].records.map((r) => r.name).sort();
    assert.deepEqual(names, ["db1", "old1", "web1", "web2"]);
    const running = await run(
      fake,
      dir,
      `filters = { ${options.prodFilter}, status = "${options.runningStatus}" }\n`,
    );
    assert.deepEqual(running.results[0].records.map((r) => r.name).sort(), ["db1", "web1", "web2"]);
  });

  test(
    "a wrong token is one AuthFailed line naming the variable, never the token",
    async (fake, dir) => {
      const env = Object.fromEntries(
        Object.entries(fake.env).map(([k, v]) => [k, k.includes("SESSION") ? v : `${v}-wrong`]),
      );
      const [result] =
        (await discoverInventory(inventoryFor(fake), { stateDir: dir, env, cache: "off" }))
          .results;
      assert.equal(result.state, "failed");
      const e = await expectProvctlError("AuthFailed", Promise.reject(result.error));
      assert.equal(e.key, "discovery.unauthorized");
      const text = messages.format(e.key, e.params);
      assert.match(text, /HTTP 401/);
      assert.ok(Object.keys(fake.env).some((k) => text.includes(k)), text);
      for (const secret of Object.values(env)) assert.ok(!text.includes(secret), "token not shown");
      assert.equal(fake.requests.length, options.parallelRequests ?? 1, "401 is not retried");
    },
  );

  test("403 names the missing permission; the provider's message is shown", async (fake, dir) => {
    fake.always = "403";
    const [result] = (await run(fake, dir)).results;
    const e = await expectProvctlError("AuthFailed", Promise.reject(result.error));
    assert.equal(e.key, "discovery.forbidden");
    assert.equal(e.hint, `discovery.forbidden_hint_${options.provider}`);
    assert.ok(messages.has(e.hint!), "a provider-specific hint naming the permission");
    assert.match(String(e.params.detail), /not authorized|permission|Unauthorized|insufficient/i);
  });

  test("429 with Retry-After and 500 are retried, then succeed", async (fake, dir) => {
    fake.script = ["429", "500"];
    fake.retryAfter = "1";
    const started = Date.now();
    const [result] = (await run(fake, dir)).results;
    assert.equal(result.state, "fresh", String(result.error));
    assert.equal(result.records.length, 7);
    assert.ok(Date.now() - started >= 950, "waited for Retry-After: 1");
  });

  test(
    "a hanging API times out and is retried; a dead one fails with Timeout",
    async (fake, dir) => {
      fake.script = ["hang"];
      const [ok] = (await run(fake, dir, "", "off")).results;
      assert.equal(ok.state, "fresh", String(ok.error));
      const again = options.start(fixtureMachines());
      try {
        again.always = "hang";
        const inv = parseInventory(
          `[sources.dead]\nprovider = "${options.provider}"\napi_url = "${again.apiUrl}"\n` +
            `${again.sourceLines}\ntimeout = "300ms"\nretries = 1\n`,
          { file: "/test/machines.toml" },
        );
        const started = Date.now();
        const [dead] =
          (await discoverInventory(inv, { stateDir: dir, env: again.env, cache: "off" })).results;
        assert.equal(dead.state, "failed");
        assert.ok(isProvctlError(dead.error, "Timeout"), String(dead.error));
        assert.ok(Date.now() - started < 8000, "gave up in time");
      } finally {
        await again.close();
      }
    },
  );

  test(
    "a slow API that keeps paging is stopped at the source's deadline, the request in flight cancelled; the cache is served stale",
    async (fake, dir) => {
      const first = await run(fake, dir, "", "use");
      assert.equal(first.results[0].state, "fresh", String(first.results[0].error));
      // Every page comes well within the request timeout (2s), and there is always another.
      fake.machines = manyMachines(2000);
      fake.pageLimit = 1;
      fake.delayMs = 150;
      const started = performance.now();
      const [result] = (await run(fake, dir, 'deadline = "700ms"\nretries = 0\n', "refresh"))
        .results;
      const took = performance.now() - started;
      assert.equal(result.state, "stale", "the cache is the fallback, as for any failure");
      assert.equal(result.records.length, 7);
      assert.ok(isProvctlError(result.error, "Timeout"), String(result.error));
      assert.equal(result.error.key, "discovery.deadline");
      assert.equal(
        messages.format(result.error.key, result.error.params),
        `source cloud (${options.provider}): not done within its deadline of 700 ms ` +
          "(all pages and regions together); stopped",
      );
      assert.ok(took >= 690 && took < 1600, `ended at the deadline (took ${Math.round(took)} ms)`);
      // The fake saw the request it was delaying given up, and nothing was sent after it.
      for (let i = 0; i < 50 && fake.cancelled === 0; i++) await delay(20);
      assert.ok(fake.cancelled >= 1, "the request in flight was cancelled");
      const sent = fake.requests.length;
      await delay(300);
      assert.equal(fake.requests.length, sent, "no request after the deadline");
    },
  );

  test("a slow source that finishes within its deadline is unaffected", async (fake, dir) => {
    fake.delayMs = 60;
    const [result] = (await run(fake, dir, 'deadline = "5s"\n', "off")).results;
    assert.equal(result.state, "fresh", String(result.error));
    assert.equal(result.records.length, 7);
    assert.equal(fake.cancelled, 0);
  });

  test(
    "a failed source falls back to its cache, marked stale; others are unaffected",
    async (fake, dir) => {
      const first = await run(fake, dir, "", "use");
      assert.equal(first.results[0].state, "fresh");
      const info = await Deno.stat(`${dir}/discovery/cloud.json`);
      assert.equal(info.mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${dir}/discovery`)).mode! & 0o777, 0o700);
      // Fresh cache: no request at all.
      const before = fake.requests.length;
      const cached = await run(fake, dir, "", "use");
      assert.equal(cached.results[0].state, "cached");
      assert.equal(fake.requests.length, before);
      // The provider breaks: --refresh falls back to the cache, marked stale.
      fake.always = "500";
      const stale = await run(fake, dir, "retries = 0\n", "refresh");
      assert.equal(stale.results[0].state, "stale");
      assert.ok(stale.inventory.machines.every((m) => m.stale === true));
      assert.equal(stale.inventory.machines.length, 7);
      // --no-cache: no fallback.
      const off = await run(fake, dir, "retries = 0\n", "off");
      assert.equal(off.results[0].state, "failed");
      assert.equal(off.inventory.machines.length, 0);
    },
  );

  test(
    "the machines of the cache reflect a changed name template without refetching",
    async (fake, dir) => {
      await run(fake, dir, "", "use");
      const before = fake.requests.length;
      const src = sourcesOf(inventoryFor(fake, 'name = "{name}-{id}"\n'))[0];
      const result = await discoverSource(src, { stateDir: dir, env: fake.env, cache: "use" });
      assert.equal(result.state, "cached");
      assert.equal(fake.requests.length, before);
    },
  );
}
