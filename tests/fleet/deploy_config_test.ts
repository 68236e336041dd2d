/** [deployments.NAME] parsing, batches of each strategy, and plans with placeholders expanded. */
import assert from "node:assert/strict";
import { isProvctlError } from "../../src/core/errors.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { parseTomlDocument } from "../../src/config/_toml_file.ts";
import { loadServicesFile } from "../../src/config/services_file.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { loadDeployments, parseDeployments } from "../../src/fleet/deploy/config.ts";
import { planDeploy } from "../../src/fleet/deploy/plan.ts";
import { allowedFailures, batchesFor, resolveAmount } from "../../src/fleet/deploy/strategies.ts";

const EXAMPLE = new URL("../../configs/provctl.example.toml", import.meta.url).pathname;
const messages = new Messages(embeddedMessages());

function parse(text: string) {
  return parseDeployments(parseTomlDocument(text, "provctl.toml"));
}

/** The rendered message of the error `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isProvctlError(e)) throw e;
    return messages.format(e.key, e.params);
  }
  assert.fail("no error");
}

Deno.test("the example provctl.toml parses, as services file and as deployments", async () => {
  const services = await loadServicesFile(EXAMPLE, { required: true });
  assert.ok(services.has("web" as never));
  const deployments = await loadDeployments(EXAMPLE);
  const web = deployments.get("web")!;
  assert.equal(web.strategy, "canary");
  assert.deepEqual(web.canary, { count: 1 });
  assert.deepEqual(web.batch, { percent: 25 });
  assert.equal(web.bakeMs, 30000);
  assert.deepEqual(web.maxFailures, { count: 0 });
  assert.equal(web.target?.labels, "role=web");
  assert.equal(web.artifact, new URL("../../configs/build/web", import.meta.url).pathname);
  assert.deepEqual(web.before, ["test -f index.html"]);
  const api = deployments.get("api")!;
  assert.equal(api.strategy, "blue-green");
  assert.equal(api.blueGreen?.groups.green.labels, "app=api,color=green");
  assert.equal(api.blueGreen?.switchOn, "controller");
  assert.equal(api.target, undefined);
});

Deno.test("deployment mistakes are reported at file:line:col with what to write", () => {
  const base = `[deployments.web]\nartifact = "a"\ntarget = { all = true }\n`;
  assert.equal(
    errorOf(() => parse(base + `stratgy = "rolling"\n`)),
    "provctl.toml:4:1: unknown key deployments.web.stratgy (did you mean deployments.web.strategy?)",
  );
  assert.match(
    errorOf(() => parse(base + `strategy = "big-bang"\n`)),
    /^provctl\.toml:4:\d+: strategy "big-bang" is not known; use one of rolling, canary, blue-green$/,
  );
  assert.match(
    errorOf(() => parse(base + `batch = "150%"\n`)),
    /^provctl\.toml:4:\d+: deployments\.web\.batch = 150% is not a number/,
  );
  assert.match(errorOf(() => parse(base + `batch = 0\n`)), /must be at least 1 machine/);
  assert.match(errorOf(() => parse(base + `strategy = "canary"\n`)), /sets no canary = N/);
  assert.match(
    errorOf(() => parse(base + `bake_ms = 5\n`)),
    /bake_ms applies to strategy "canary", not "rolling"/,
  );
  assert.match(
    errorOf(() => parse(base + `version = "../x"\n`)),
    /version "\.\.\/x" cannot name a release directory/,
  );
  assert.match(
    errorOf(() => parse(`[deployments.web]\ntarget = { all = true }\n`)),
    /has no artifact/,
  );
  assert.match(
    errorOf(() => parse(`[deployments.web]\nartifact = "a"\n`)),
    /has no \[target\] table/,
  );
  assert.match(
    errorOf(() => parse(`[deployments.web]\nartifact = "a"\ntarget = { labels = 3 }\n`)),
    /deployments\.web\.target\.labels must be of type string, found integer/,
  );
  assert.match(
    errorOf(() => parse(`[deployments.web]\nartifact = "a"\ntarget = {}\n`)),
    /selects nothing/,
  );
  assert.match(
    errorOf(() => parse(base + `steps = { before = ["ok"], during = ["x"] }\n`)),
    /unknown key deployments\.web\.steps\.during/,
  );
  const bg = `[deployments.api]\nstrategy = "blue-green"\nartifact = "a"\n`;
  assert.match(
    errorOf(() => parse(bg + `switch = "x"\n`)),
    /needs both \[groups\.blue\] and \[groups\.green\]/,
  );
  assert.match(
    errorOf(() => parse(bg + `groups.blue = { all = true }\ngroups.green = { all = true }\n`)),
    /needs switch = "command"/,
  );
  assert.match(
    errorOf(() =>
      parse(
        bg +
          `switch = "x"\ntarget = { all = true }\ngroups.blue = { all = true }\ngroups.green = { all = true }\n`,
      )
    ),
    /^provctl\.toml:5:1: .*given by groups\.blue and groups\.green, not target/,
  );
  assert.match(
    errorOf(() => parse(`[deployments."a b"]\nartifact = "a"\n`)),
    /invalid deployment name "a b"/,
  );
});

Deno.test("batches: rolling N or P%, canary first then rolling, blue-green all at once", () => {
  const hosts = ["a", "b", "c", "d", "e"];
  const sizes = (b: { items: readonly string[] }[]) => b.map((x) => x.items.join(""));
  assert.deepEqual(sizes(batchesFor("rolling", hosts, {})), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(sizes(batchesFor("rolling", hosts, { batch: { percent: 40 } })), [
    "ab",
    "cd",
    "e",
  ]);
  assert.deepEqual(sizes(batchesFor("rolling", hosts, { batch: { count: 9 } })), ["abcde"]);
  const canary = batchesFor("canary", hosts, { canary: { percent: 10 }, batch: { count: 2 } });
  assert.deepEqual(canary.map((b) => b.kind), ["canary", "batch", "batch"]);
  assert.deepEqual(sizes(canary), ["a", "bc", "de"]);
  assert.deepEqual(sizes(batchesFor("blue-green", hosts, {})), ["abcde"]);
  assert.equal(resolveAmount({ percent: 1 }, 3, 1), 1);
  assert.equal(allowedFailures({ count: 2 }, 10), 2);
  assert.equal(allowedFailures({ percent: 25 }, 10), 2);
  assert.equal(allowedFailures({ percent: 0 }, 10), 0);
});

const INVENTORY = `
[defaults]
deploy_root = "/srv/{name}"
[machines.web1]
host = "10.0.0.1"
labels = { role = "web", color = "blue" }
vars = { port = "8001" }
[machines.web2]
host = "10.0.0.2"
labels = { role = "web", color = "green" }
vars = { port = "8002" }
[machines.db1]
host = "10.0.0.3"
labels = { role = "db" }
`;

Deno.test("plans expand placeholders per machine and pick the idle blue-green group", () => {
  const inventory = parseInventory(INVENTORY, { file: "machines.toml" });
  const deployments = parse(`
[deployments.web]
artifact = "/tmp/a"
deploy_root = "{deploy_root}/web"
target = { labels = "role=web" }
steps = { before = ["make {version} PORT={port}"], after = ["ln -s {release_dir} {current_dir}.x ; echo \${HOME}"] }
[deployments.web.health]
type = "http"
url = "http://127.0.0.1:{port}/v/{version}"
from = "remote"
[deployments.bg]
strategy = "blue-green"
artifact = "/tmp/a"
switch = "lb {group} {previous_group} {hosts} {version}"
groups.blue = { labels = "color=blue" }
groups.green = { labels = "color=green" }
`);
  const plan = planDeploy({
    deployment: deployments.get("web")!,
    inventory,
    version: "v7",
    deploymentId: "web-1",
    keepReleases: 3,
  });
  assert.deepEqual(plan.hosts.map((h) => h.name), ["web1", "web2"]);
  const h = plan.hosts[1];
  assert.equal(h.root, "/srv/web2/web");
  assert.equal(h.releaseDir, "/srv/web2/web/releases/v7");
  assert.deepEqual(h.before, ["make v7 PORT=8002"]);
  assert.deepEqual(h.after, [
    "ln -s /srv/web2/web/releases/v7 /srv/web2/web/current.x ; echo ${HOME}",
  ]);
  assert.equal(h.health?.type === "http" && h.health.url, "http://127.0.0.1:8002/v/v7");
  assert.equal(plan.keepReleases, 3);
  assert.deepEqual(plan.batches.map((b) => b.hosts.length), [1, 1]);

  const only = planDeploy({
    deployment: deployments.get("web")!,
    inventory,
    version: "v7",
    deploymentId: "web-2",
    keepReleases: 3,
    only: new Set(["web2", "db1"]),
  });
  assert.deepEqual(only.hosts.map((x) => x.name), ["web2"]);

  const first = planDeploy({
    deployment: deployments.get("bg")!,
    inventory,
    version: "b1",
    deploymentId: "x",
    keepReleases: 5,
  });
  assert.equal(first.blueGreen?.group, "blue");
  // An empty value stays one (empty) argument.
  assert.equal(first.blueGreen?.switchCommand, "lb blue '' web1 b1");
  const next = planDeploy({
    deployment: deployments.get("bg")!,
    inventory,
    version: "b2",
    deploymentId: "y",
    keepReleases: 5,
    state: { deployment: "bg", live: "blue" },
  });
  assert.equal(next.blueGreen?.group, "green");
  assert.deepEqual(next.hosts.map((x) => x.name), ["web2"]);
  assert.deepEqual(next.blueGreen?.liveHosts, ["web1"]);
  assert.equal(next.blueGreen?.switchCommand, "lb green blue web2 b2");
});

Deno.test("plans refuse a machine without a deploy root and unknown placeholders", () => {
  const inventory = parseInventory(`[machines.a]\nhost = "10.0.0.1"\n`, { file: "machines.toml" });
  const d = parse(`[deployments.x]\nartifact = "/a"\ntarget = { all = true }\n`).get("x")!;
  const plan = () =>
    planDeploy({ deployment: d, inventory, version: "1", deploymentId: "i", keepReleases: 1 });
  assert.match(errorOf(plan), /machine a has no deploy root for deployment x/);
  const withRoot = parse(
    `[deployments.x]\nartifact = "/a"\ndeploy_root = "/srv/x"\ntarget = { all = true }\nsteps = { after = ["run {nope}"] }\n`,
  )
    .get("x")!;
  assert.match(
    errorOf(() =>
      planDeploy({
        deployment: withRoot,
        inventory,
        version: "1",
        deploymentId: "i",
        keepReleases: 1,
      })
    ),
    /\{nope\}/,
  );
  const relative = parse(
    `[deployments.x]\nartifact = "/a"\ndeploy_root = "srv/x"\ntarget = { all = true }\n`,
  ).get("x")!;
  assert.match(
    errorOf(() =>
      planDeploy({
        deployment: relative,
        inventory,
        version: "1",
        deploymentId: "i",
        keepReleases: 1,
      })
    ),
    /must be an absolute path/,
  );
});
