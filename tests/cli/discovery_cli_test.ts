/**
 * Cloud discovery through the real CLI: a fake Hetzner API (tests/discovery/fakes) whose
 * machines are real loopback sshd hosts, so `provctl exec` runs on discovered machines;
 * then provider failures (stale cache, --allow-stale, --refresh, --no-cache), machines
 * list/refresh, discover --dry-run, secrets and the cache's permissions.
 */
import assert from "node:assert/strict";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { cliSandbox } from "../helpers/cli.ts";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { startHetznerFake } from "../discovery/fakes/hetzner.ts";
import type { FakeMachine } from "../discovery/fakes/fixture.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`discovery exec test skipped: ${unavailable}`);
const opts = { sanitizeResources: false, sanitizeOps: false };

function machine(id: string, name: string, extra: Partial<FakeMachine>): FakeMachine {
  return { id, name, running: true, region: "fsn1", tags: {}, bare: [], ...extra };
}

Deno.test({
  name: "exec, list, refresh and discover on machines discovered from a provider (real sshd)",
  ignore: Boolean(unavailable),
  ...opts,
  fn: async () => {
    const fleet = await startSshdFleet({ count: 3 });
    const cli = await cliSandbox();
    const [h1, h2, h3] = fleet.hosts;
    const fake = startHetznerFake([
      machine("11", "web1", { publicV4: h1.address, tags: { role: "web" } }),
      machine("12", "web2", { publicV4: h2.address, tags: { role: "web" } }),
      // No public address: reached by its private one.
      machine("13", "db1", { privateV4: h3.address, tags: { role: "db" } }),
    ]);
    try {
      const sshConfig = `${cli.dir}/ssh_config`;
      await Deno.writeTextFile(
        sshConfig,
        fleet.hosts.map((h) => `Host ${h.address}\n  Port ${h.port}\n`).join("") +
          `Host *\n  UserKnownHostsFile ${fleet.knownHosts}\n  IdentitiesOnly yes\n`,
      );
      const inventory = `${cli.dir}/machines.toml`;
      await Deno.writeTextFile(
        inventory,
        `[sources.hz]\nprovider = "hetzner"\napi_url = "${fake.apiUrl}"\n${fake.sourceLines}\n` +
          `user = "root"\nidentity = "${fleet.clientKey}"\nlabels = { managed = "provctl" }\n` +
          `retries = 0\ntimeout = "2s"\n`,
      );
      const env = { ...fake.env };
      const run = (args: string[], extra: Record<string, string> = {}) => {
        const dash = args.indexOf("--");
        // Only commands that connect take --ssh-config.
        const connects = args[0] === "exec";
        const flags = ["--inventory", inventory, ...(connects ? ["--ssh-config", sshConfig] : [])];
        const full = dash < 0
          ? [...args, ...flags]
          : [...args.slice(0, dash), ...flags, ...args.slice(dash)];
        return cli.run(full, { env: { ...env, ...extra } });
      };

      const exec = await run(["exec", "-l", "role=web", "--", "echo", "hello {name}"]);
      assert.equal(exec.code, 0, exec.stderr + exec.stdout);
      assert.match(exec.stdout, /hello web1/);
      assert.match(exec.stdout, /hello web2/);
      assert.doesNotMatch(exec.stdout, /db1/);
      const db = await run(["exec", "db1", "--", "echo", "db here"]);
      assert.equal(db.code, 0, db.stderr);
      assert.match(db.stdout, /db here/);

      const list = await run(["machines", "list", "-o", "json"]);
      assert.equal(list.code, 0, list.stderr);
      const rows = list.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(
        rows.map((r) => [r.name, r.address, r.source, r.stale, r.labels.role, r.labels.managed]),
        [
          ["web1", h1.address, "hz", false, "web", "provctl"],
          ["web2", h2.address, "hz", false, "web", "provctl"],
          ["db1", h3.address, "hz", false, "db", "provctl"],
        ],
      );
      const text = await run(["machines", "list"]);
      assert.match(text.stdout, /^NAME\s+HOST\s+USER\s+PROFILE\s+SOURCE\s+LABELS$/m);
      assert.match(text.stdout, /^web1\s+\S+\s+root\s+-\s+hz\s+/m);
      const cacheFile = `${cli.stateDir}/discovery/hz.json`;
      assert.equal((await Deno.stat(cacheFile)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${cli.stateDir}/discovery`)).mode! & 0o777, 0o700);

      // The provider breaks: the cache is still fresh, so nothing changes...
      fake.always = "500";
      const requests = fake.requests.length;
      const cached = await run(["exec", "web1", "--", "true"]);
      assert.equal(cached.code, 0, cached.stderr);
      assert.equal(fake.requests.length, requests, "a fresh cache is used without asking");
      // ...until --refresh: stale machines are refused, unless --allow-stale.
      const refused = await run(["exec", "-l", "role=web", "--refresh", "--", "true"]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /using 3 cached machine\(s\) of source hz/);
      assert.match(
        refused.stderr,
        /refusing to act on machines from a failed source \(hz\): web1, web2/,
      );
      assert.match(refused.stderr, /--allow-stale/);
      const allowed = await run([
        "exec",
        "-l",
        "role=web",
        "--refresh",
        "--allow-stale",
        "--",
        "echo",
        "still {name}",
      ]);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /still web1/);
      const staleList = await run(["machines", "list", "--refresh"]);
      assert.equal(staleList.code, 0, staleList.stderr);
      assert.match(staleList.stdout, /^web1\s+.*hz \(stale\)/m);
      // --no-cache: no fallback, the source has no machines, so a broad selection refuses.
      const noCache = await run(["exec", "--all", "--no-cache", "--", "true"]);
      assert.equal(noCache.code, 1);
      assert.match(noCache.stderr, /source\(s\) hz failed and nothing is cached/);

      const refresh = await run(["machines", "refresh", "-o", "json"]);
      assert.equal(refresh.code, 1);
      const r = JSON.parse(refresh.stdout);
      assert.equal(r.state, "stale");
      assert.match(r.error, /HTTP 500/);

      // A wrong token: one line naming the variable, never the token. The cache was
      // fetched with another credential (it may be another project's): not served, even
      // as stale.
      fake.always = undefined;
      const wrong = await run(["machines", "refresh"], { HCLOUD_TEST_TOKEN: "not-the-token-x1" });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stdout, /hz\s+hetzner\s+failed.*HCLOUD_TEST_TOKEN.*HTTP 401/);
      assert.ok(!(wrong.stdout + wrong.stderr).includes("not-the-token-x1"));
      const fixed = await run(["machines", "refresh"]);
      assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
      assert.match(fixed.stdout, /^hz\s+hetzner\s+fresh\s+3\s+2\s/m);

      const dry = await run(["discover", "hz", "--dry-run", "-o", "json"]);
      assert.equal(dry.code, 0, dry.stderr);
      const previews = dry.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(previews.map((p) => [p.name, p.address, p.status]), [
        ["web1", h1.address, "running"],
        ["web2", h2.address, "running"],
        ["db1", h3.address, "running"],
      ]);
      const byProvider = await run(["discover", "hetzner", "--dry-run"]);
      assert.equal(byProvider.code, 0, byProvider.stderr);
      assert.match(byProvider.stdout, /^hz\s+11\s+web1\s/m);
      const noDry = await run(["discover", "hz"]);
      assert.equal(noDry.code, 2);
      assert.match(noDry.stderr, /add --dry-run/);

      // A cache file others can write is refused outright.
      await Deno.chmod(cacheFile, 0o666);
      const unsafe = await run(["machines", "list"]);
      assert.equal(unsafe.code, 1);
      assert.match(unsafe.stderr, /refusing the discovery cache file .*hz\.json.*mode 0666/);
    } finally {
      await fake.close();
      await fleet.stop();
      await Deno.remove(cli.dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "sources: token_file must be private, -v notes, deploy refuses failed sources, duplicate names, bad config",
  ...opts,
  fn: async () => {
    const cli = await cliSandbox();
    const fake = startHetznerFake([
      machine("21", "web1", { publicV4: "192.0.2.1" }),
      machine("22", "web1", { publicV4: "192.0.2.2" }),
    ]);
    try {
      const inventory = `${cli.dir}/machines.toml`;
      const tokenFile = `${cli.dir}/token`;
      await Deno.writeTextFile(tokenFile, `${fake.secret}\n`, { mode: 0o644 });
      await Deno.chmod(tokenFile, 0o644);
      const write = (extra: string, statics = "") =>
        Deno.writeTextFile(
          inventory,
          `${statics}[sources.hz]\nprovider = "hetzner"\napi_url = "${fake.apiUrl}"\n` +
            `token_file = "${tokenFile}"\nretries = 0\n${extra}`,
        );
      const run = (args: string[]) => cli.run([...args, "--inventory", inventory]);

      await write('name = "{name}-{id}"\n');
      const open = await run(["machines", "refresh"]);
      assert.equal(open.code, 1);
      assert.match(
        open.stdout,
        /refusing the token_file .*token: other users can read or change it \(mode 0644\)/,
      );
      await Deno.chmod(tokenFile, 0o600);
      const ok = await run(["machines", "list", "-o", "json"]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(
        ok.stdout.trim().split("\n").map((l) => JSON.parse(l).name),
        ["web1-21", "web1-22"],
      );

      const unknown = await run(["machines", "refresh", "nope"]);
      assert.equal(unknown.code, 3);
      assert.match(unknown.stderr, /no source "nope" in the inventory \(sources: hz\)/);

      // -v reports what was cleaned, the provider's text JSON-quoted.
      fake.machines.push(
        machine("23", "bad\u001b]0;owned\u0007<b>name", { publicV4: "192.0.2.3" }),
      );
      const verbose = await run(["machines", "list", "-v", "--refresh"]);
      assert.equal(verbose.code, 0, verbose.stderr);
      assert.match(
        verbose.stderr,
        /source hz: hetzner id "23": name "bad\\u001b\]0;owned\\u0007<b>name-23" -> bad__0_owned__b_name-23/,
      );
      assert.ok(
        // deno-lint-ignore no-control-regex
        !/[\u0007\u001b]/.test(verbose.stdout + verbose.stderr),
        "no raw control characters",
      );

      // deploy acts on the whole inventory: any failed source stops it before anything runs.
      await Deno.mkdir(`${cli.dir}/art`);
      await Deno.writeTextFile(
        `${cli.dir}/provctl.toml`,
        `[deployments.site]\nartifact = "art"\ndeploy_root = "/srv/site"\ntarget = { machines = ["web1*"] }\n`,
      );
      fake.always = "500";
      const deploy = await cli.run([
        "deploy",
        "site",
        "--refresh",
        "--dry-run",
        "--inventory",
        inventory,
        "--file",
        `${cli.dir}/provctl.toml`,
      ]);
      assert.equal(deploy.code, 1, deploy.stderr);
      assert.match(deploy.stderr, /refusing to act on machines from a failed source \(hz\)/);
      fake.always = undefined;

      await write("", '[machines.WEB1]\nhost = "192.0.2.9"\n\n');
      const dup = await run(["machines", "list", "--no-cache"]);
      assert.equal(dup.code, 2);
      assert.match(
        dup.stderr,
        /two machines are named "web1": .*machines\.toml:1 and source hz \(hetzner id "21"\)/,
      );
      assert.match(dup.stderr, /hint: make names unique with the name template of \[sources\.hz\]/);

      await Deno.writeTextFile(
        inventory,
        `[sources.hz]\nprovider = "hetzner"\ntoken = "inline-secret"\n`,
      );
      const inline = await run(["machines", "list"]);
      assert.equal(inline.code, 2);
      assert.match(inline.stderr, /machines\.toml:3:1: sources\.hz\.token: secrets do not belong/);
      assert.match(inline.stderr, /hint: .*token_env = "VAR"/);
      assert.ok(!inline.stderr.includes("inline-secret"));

      await Deno.writeTextFile(inventory, `[sources.x]\nprovider = "azure"\n`);
      const bad = await run(["machines", "list"]);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /provider = "azure" is not allowed; use one of aws, digitalocean, hetzner, linode, vultr, upcloud/,
      );
    } finally {
      await fake.close();
      await Deno.remove(cli.dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a slow provider that keeps paging stops at [discovery] deadline_ms (a source's deadline wins)",
  ...opts,
  fn: async () => {
    const cli = await cliSandbox();
    // Each page well within the request timeout, and always another one.
    const fake = startHetznerFake(
      Array.from({ length: 2000 }, (_, i) => machine(`${i + 1}`, `m${i}`, {})),
    );
    fake.pageLimit = 1;
    fake.delayMs = 150;
    try {
      const inventory = `${cli.dir}/machines.toml`;
      const write = (extra: string) =>
        Deno.writeTextFile(
          inventory,
          `[sources.hz]\nprovider = "hetzner"\napi_url = "${fake.apiUrl}"\n${fake.sourceLines}\n` +
            `retries = 0\ntimeout = "2s"\n${extra}`,
        );
      await write("");
      await Deno.mkdir(`${cli.dir}/config/provctl`, { recursive: true });
      await Deno.writeTextFile(
        `${cli.dir}/config/provctl/defaults.toml`,
        "[discovery]\ndeadline_ms = 800\n",
      );
      const run = (args: string[]) =>
        cli.run([...args, "--inventory", inventory], { env: fake.env });

      const json = await run(["machines", "refresh", "-o", "json"]);
      assert.equal(json.code, 1, json.stderr);
      const record = JSON.parse(json.stdout);
      assert.equal(record.state, "failed");
      assert.equal(
        record.error,
        "source hz (hetzner): not done within its deadline of 800 ms (all pages and regions together); stopped",
      );
      assert.ok(record.duration_ms >= 790 && record.duration_ms < 2500, String(record.duration_ms));

      await write('deadline = "500ms"\n');
      const list = await run(["machines", "list"]);
      assert.equal(list.code, 3, list.stderr); // nothing cached: no machines at all
      assert.match(
        list.stderr,
        /no machines from source hz \(nothing cached\): source hz \(hetzner\): not done within its deadline of 500 ms/,
      );

      await write('deadline = "soon"\n');
      const bad = await run(["machines", "list"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /machines\.toml:7:1: deadline = "soon" is not a duration/);
    } finally {
      await fake.close();
      await Deno.remove(cli.dir, { recursive: true }).catch(() => {});
    }
  },
});
