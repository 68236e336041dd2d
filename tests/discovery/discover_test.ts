import assert from "node:assert/strict";
import { startHetznerFake } from "./fakes/hetzner.ts";
import { startVultrFake } from "./fakes/vultr.ts";
import { fixtureMachines } from "./fakes/fixture.ts";
import {
  discoverInventory,
  discoverSource,
  machineOf,
  mergeDiscovered,
  missingSourcesError,
  type SourceResult,
  sourcesOf,
  staleMachinesError,
} from "../../src/discovery/discover.ts";
import type { MachineRecord } from "../../src/discovery/provider.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { expectProvctlError } from "../helpers/errors.ts";

const inventory = parseInventory(
  `[machines.static-1]\nhost = "192.0.2.99"\n\n` +
    `[sources.a]\nprovider = "hetzner"\n\n[sources.b]\nprovider = "vultr"\nname = "{name}-{region}"\n` +
    `connect_with = ["private_ipv4", "public_ipv6"]\n`,
  { file: "/m.toml" },
);
const [a, b] = sourcesOf(inventory);

const record = (id: string, name: string, extra: Partial<MachineRecord> = {}): MachineRecord => ({
  id,
  name,
  addresses: { public_ipv4: "192.0.2.1", private_ipv4: "10.0.0.1" },
  status: "running",
  running: true,
  region: "fra",
  tags: [],
  ...extra,
});
const result = (
  source: typeof a,
  records: MachineRecord[],
  state: SourceResult["state"] = "fresh",
): SourceResult => ({ source, state, records, pages: 1, requests: 1, durationMs: 1 });

Deno.test("merge: file machines first, then each source's; connect_with and name template apply", () => {
  const { inventory: merged } = mergeDiscovered(inventory, [
    result(a, [record("1", "web1")]),
    result(b, [
      record("2", "web1"),
      record("3", "v6", { addresses: { public_ipv4: "192.0.2.3", public_ipv6: "2001:db8::3" } }),
      record("4", "none", { addresses: { public_ipv4: "192.0.2.4" } }),
    ]),
  ]);
  assert.deepEqual(merged.machines.map((m) => [m.name, m.host, m.source ?? null]), [
    ["static-1", "192.0.2.99", null],
    ["web1", "192.0.2.1", "a"],
    ["web1-fra", "10.0.0.1", "b"],
    ["v6-fra", "2001:db8::3", "b"],
  ]);
});

Deno.test("merge: duplicate names (also by case, also against the file) are an error naming both", async () => {
  const e = await expectProvctlError(
    "InvalidConfig",
    () =>
      Promise.resolve().then(() =>
        mergeDiscovered(inventory, [result(a, [record("1", "web1"), record("2", "WEB1")])])
      ),
  );
  assert.equal(e.params.first, 'source a (hetzner id "1")');
  assert.equal(e.params.second, 'source a (hetzner id "2")');
  const f = await expectProvctlError(
    "InvalidConfig",
    () =>
      Promise.resolve().then(() =>
        mergeDiscovered(inventory, [result(a, [record("1", "Static-1")])])
      ),
  );
  assert.equal(f.params.first, "/m.toml:1");
});

Deno.test("machineOf: a name that is nothing but bad characters falls back to provider-id", () => {
  const { machine, notes } = machineOf(a, record("77", "\u0000\u0001"));
  assert.equal(machine?.name, "hetzner-77");
  assert.deepEqual(notes.map((n) => n.key), ["discovery.note_name_changed"]);
  const bad = machineOf(a, record("78", "x", { addresses: { public_ipv4: "a b;c" } }));
  assert.equal(bad.machine, undefined, "an address that is no host is skipped");
  assert.equal(bad.notes[0].key, "discovery.note_skipped");
});

Deno.test("stale guards: failed sources refuse broad selections; stale machines refuse any", () => {
  const failed = result(a, [], "failed");
  assert.equal(missingSourcesError([failed], { exactNames: true }), undefined);
  assert.equal(
    missingSourcesError([failed], { exactNames: false })?.key,
    "discovery.stale_refused_unknown",
  );
  assert.equal(missingSourcesError([result(a, [])], { exactNames: false }), undefined);

  const { inventory: merged, results } = mergeDiscovered(inventory, [
    result(a, [record("1", "old")], "stale"),
    result(b, [record("2", "new")]),
  ]);
  const old = merged.machines.filter((m) => m.name === "old");
  const fresh = merged.machines.filter((m) => m.name === "new-fra");
  assert.equal(old[0].stale, true);
  const e = staleMachinesError(results, old);
  assert.equal(e?.key, "discovery.stale_refused");
  assert.deepEqual([e?.params.sources, e?.params.machines], ["a", "old"]);
  assert.equal(staleMachinesError(results, fresh), undefined);
  assert.equal(
    staleMachinesError(results, fresh, { anyFailure: true })?.key,
    "discovery.stale_refused_unknown",
  );
});

Deno.test({
  name: "sources are fetched in parallel; one failing does not empty the others",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ok = startHetznerFake(fixtureMachines());
    const broken = startVultrFake(fixtureMachines());
    broken.always = "hang";
    const dir = await Deno.makeTempDir();
    try {
      const inv = parseInventory(
        `[sources.ok]\nprovider = "hetzner"\napi_url = "${ok.apiUrl}"\n${ok.sourceLines}\n` +
          `[sources.broken]\nprovider = "vultr"\napi_url = "${broken.apiUrl}"\n${broken.sourceLines}\n` +
          `timeout = "500ms"\nretries = 0\nname = "v-{name}"\n`,
        { file: "/m.toml" },
      );
      const started = Date.now();
      const { inventory: merged, results } = await discoverInventory(inv, {
        stateDir: dir,
        env: { ...ok.env, ...broken.env },
        cache: "use",
      });
      assert.deepEqual(results.map((r) => [r.source.name, r.state]), [["ok", "fresh"], [
        "broken",
        "failed",
      ]]);
      assert.equal(merged.machines.length, 7);
      assert.ok(merged.machines.every((m) => m.source === "ok" && !m.stale));
      assert.ok(Date.now() - started < 6000, "the hang cost its timeout, not more");
    } finally {
      await ok.close();
      await broken.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deadline: a wait between retries (Retry-After) is cut short too; 0 = no limit",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const fake = startHetznerFake(fixtureMachines());
    const dir = await Deno.makeTempDir();
    try {
      const source = (extra: string) =>
        sourcesOf(parseInventory(
          `[sources.slow]\nprovider = "hetzner"\napi_url = "${fake.apiUrl}"\n${fake.sourceLines}\n` +
            `retries = 3\n${extra}`,
          { file: "/m.toml" },
        ))[0];
      fake.script = ["429"];
      fake.retryAfter = "10";
      const started = performance.now();
      const cut = await discoverSource(source(""), {
        stateDir: dir,
        env: fake.env,
        cache: "off",
        deadlineMs: 400,
      });
      assert.ok(performance.now() - started < 2000, "did not wait out Retry-After: 10");
      assert.equal(cut.state, "failed");
      assert.ok(isProvctlError(cut.error, "Timeout"), String(cut.error));
      assert.equal(cut.error.key, "discovery.deadline");
      assert.equal(cut.error.params.limit, "400 ms");

      // A source's "0" lifts the limit: a slow but finite source completes.
      fake.delayMs = 150;
      const whole = await discoverSource(source('deadline = "0"\n'), {
        stateDir: dir,
        env: fake.env,
        cache: "off",
        deadlineMs: 200,
      });
      assert.equal(whole.state, "fresh", String(whole.error));
      assert.equal(whole.records.length, 7);
    } finally {
      await fake.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
