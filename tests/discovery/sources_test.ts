import assert from "node:assert/strict";
import { sourcesOf } from "../../src/discovery/discover.ts";
import { parseDuration } from "../../src/discovery/sources.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { expectProvctlError } from "../helpers/errors.ts";

const FILE = "/etc/provctl/machines.toml";
const read = (text: string) => sourcesOf(parseInventory(text, { file: FILE }));

Deno.test("sources: the issue's example reads as written", () => {
  const [s] = read(`[profiles.prod]\nuser = "ops"\n
[sources.hetzner-prod]
provider = "hetzner"
token_env = "HCLOUD_TOKEN"
filters = { label_selector = "env=prod", status = "running" }
connect_with = ["public_ipv4", "private_ipv4"]
name = "{name}"
profile = "prod"
labels = { source = "hetzner" }
cache_ttl = "5m"
api_url = "https://api.hetzner.cloud/v1"
`);
  assert.equal(s.name, "hetzner-prod");
  assert.equal(s.provider, "hetzner");
  assert.equal(s.tokenEnv, "HCLOUD_TOKEN");
  assert.deepEqual(s.filters, { label_selector: "env=prod", status: "running" });
  assert.deepEqual(s.connectWith, ["public_ipv4", "private_ipv4"]);
  assert.equal(s.cacheTtlMs, 300_000);
  assert.equal(s.apiUrl, "https://api.hetzner.cloud/v1");
  const m = s.table.machine({
    name: "web1",
    host: "192.0.2.1",
    labels: { env: "prod", source: "x" },
  });
  assert.deepEqual(m.labels, { env: "prod", source: "hetzner" }, "the source's labels win");
  assert.equal(m.user, "ops");
  assert.equal(m.source, "hetzner-prod");
  assert.equal(m.origin, `${FILE}:4`);
});

Deno.test("sources: defaults (connect_with, name, cache_ttl, timeout, retries)", () => {
  const [s] = read(`[sources.do]\nprovider = "digitalocean"\n`);
  assert.deepEqual(s.connectWith, ["public_ipv4", "private_ipv4", "public_ipv6"]);
  assert.equal(s.nameTemplate, "{name}");
  assert.equal(s.cacheTtlMs, 300_000);
  assert.equal(s.timeoutMs, 15_000);
  assert.equal(s.retries, 3);
  assert.equal(s.tokenEnv, undefined);
  assert.equal(s.deadlineMs, undefined, "unset: [discovery] deadline_ms applies");
});

Deno.test("sources: deadline is a duration; 0 = no limit", () => {
  const at = (v: string) => read(`[sources.a]\nprovider = "hetzner"\ndeadline = "${v}"\n`)[0];
  assert.equal(at("90s").deadlineMs, 90_000);
  assert.equal(at("0").deadlineMs, 0);
  assert.throws(() => at("90"), /duration_invalid/);
});

Deno.test("sources: mistakes are InvalidConfig at file:line:col", async () => {
  const cases: [string, RegExp][] = [
    [`[sources.a]\ntoken_env = "X"\n`, /provider_missing/],
    [`[sources.a]\nprovider = "gcp"\n`, /not_allowed|gcp/],
    [`[sources.a]\nprovider = "hetzner"\ntoken = "s3cret"\n`, /secret_in_toml/],
    [`[sources.a]\nprovider = "hetzner"\ntoken_env = "$HCLOUD"\n`, /env_name_invalid/],
    [`[sources.a]\nprovider = "hetzner"\ntoken_env = "A"\ntoken_file = "/t"\n`, /token_both/],
    [`[sources.a]\nprovider = "hetzner"\nregions = ["eu-west-1"]\n`, /key_only_for/],
    [`[sources.a]\nprovider = "aws"\nregions = ["EU WEST"]\n`, /region_invalid/],
    [`[sources.a]\nprovider = "hetzner"\nfilters = { tag_name = "x" }\n`, /unknown_key/],
    [`[sources.a]\nprovider = "hetzner"\nconnect_with = ["ipv4"]\n`, /not_allowed/],
    [`[sources.a]\nprovider = "hetzner"\nname = "static"\n`, /name_template_invalid/],
    [`[sources.a]\nprovider = "hetzner"\nname = "{Nam}"\n`, /name_template_invalid/],
    [`[sources.a]\nprovider = "hetzner"\ncache_ttl = "5 minutes"\n`, /duration_invalid/],
    [`[sources.a]\nprovider = "hetzner"\napi_url = "https://u:p@api.example"\n`, /api_url_invalid/],
    [`[sources.a]\nprovider = "hetzner"\npage_size = 51\n`, /out_of_range/],
    [`[sources.a]\nprovider = "hetzner"\nprofile = "nope"\n`, /unknown_profile/],
    [`[sources."a b"]\nprovider = "hetzner"\n`, /invalid_at|name_bad_char/],
  ];
  for (const [text, key] of cases) {
    const e = await expectProvctlError(
      "InvalidConfig",
      () => Promise.resolve().then(() => read(text)),
    );
    assert.match(`${e.key} ${JSON.stringify(e.params)}`, key, text);
    assert.match(String(e.params.location), /^\/etc\/provctl\/machines\.toml:\d+/, text);
  }
});

Deno.test("sources: aws filters take any EC2 filter name; every provider takes status", () => {
  const [aws] = read(
    `[sources.a]\nprovider = "aws"\nregions = ["eu-west-1"]\nfilters = { "tag:env" = "prod", "vpc-id" = "vpc-1", status = "running" }\n`,
  );
  assert.deepEqual(Object.keys(aws.filters), ["tag:env", "vpc-id", "status"]);
  const [lin] = read(
    `[sources.l]\nprovider = "linode"\nfilters = { tags = "prod", status = "running" }\n`,
  );
  assert.deepEqual(lin.filters, { tags: "prod", status: "running" });
});

Deno.test("parseDuration: units, bare 0, and garbage", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("5"), undefined);
  assert.equal(parseDuration("-1s"), undefined);
});

Deno.test("sources: the commented examples of configs/machines.example.toml are valid", async () => {
  const example = await Deno.readTextFile(
    new URL("../../configs/machines.example.toml", import.meta.url),
  );
  const commented = example.slice(example.indexOf("# [sources.hetzner-prod]"));
  const text = `[profiles.prod]\n` +
    commented.split("\n").map((l) => l.replace(/^# /, "")).join("\n");
  const sources = read(text);
  assert.deepEqual(sources.map((s) => s.provider), [
    "hetzner",
    "aws",
    "digitalocean",
    "linode",
    "vultr",
    "upcloud",
  ]);
});
